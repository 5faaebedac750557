// A small module the comparison page runs before the viewer bundle (dist/prefetch.js, async):
// parsing Cornerstone takes most of a second on a slow machine, so the listings of the two
// studies on screen and their series' metadata are asked for at once; the viewer, when it
// starts, finds these requests under way (listing.js keeps them once per page). The viewer
// imports listing.js through this module, so the page loads it in one file, not two in a row.
import { readConfig } from './config.js';
import { prefetchInitial } from './listing.js';

export * from './listing.js';

const root = document.getElementById('partage-viewer');
if (root) {
  try {
    prefetchInitial(readConfig(root)).catch(() => {}); // the viewer reports failures itself
  } catch {
    // a bad configuration: the viewer shows what is wrong with it
  }
}
