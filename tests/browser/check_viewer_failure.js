// A prior the portal cannot list: the viewer must still show the current study, name the
// failure on the prior's viewport and reject partageViewer.ready with it.
// Usage: node check_viewer_failure.js URL. Prints one JSON object.
import { finish, launchChromium, newPage, openViewerOutcome, viewerState } from './harness.js';

const [url] = process.argv.slice(2);
if (!url) {
  console.error('usage: node check_viewer_failure.js URL');
  process.exit(2);
}
const browser = await launchChromium();
const page = await newPage(browser);
const result = {};
try {
  result.ready = await openViewerOutcome(page, url);
  result.state = await viewerState(page);
  result.overlay = await page.locator('[data-testid="overlay-1"]').innerText();
} catch (error) {
  result.error = String(error?.stack ?? error);
}
await finish(browser, page, result);
