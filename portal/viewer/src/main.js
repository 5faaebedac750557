// Entry point (dist/viewer.js): mounts the comparison viewer on #partage-viewer and exposes
// window.partageViewer, the hook browser tests and the portal drive it through.
import './viewer.css';
import { readConfig } from './config.js';
import { ComparisonViewer } from './viewer.js';

// user-timing marks (read by the portal benchmark): the bundle evaluated, then (viewer.js)
// rendering started and the initial viewports rendered
performance.mark('partage:bundle-evaluated');

function mount() {
  const root = document.getElementById('partage-viewer');
  if (!root) throw new Error('no #partage-viewer element on the page');
  let viewer = null;
  const ready = (async () => {
    viewer = new ComparisonViewer(root, readConfig(root));
    await viewer.start();
  })();
  ready.catch((error) => {
    root.prepend(Object.assign(document.createElement('div'), {
      className: 'pv-fatal', textContent: error.message,
    }));
  });
  const started = () => {
    if (!viewer) throw new Error('viewer not started');
    return viewer;
  };
  window.partageViewer = {
    ready,
    state: () => started().state(),
    scroll: (index, delta) => started().scroll(index, delta),
    setLayout: (n) => started().setLayout(n),
    setSync: (on) => started().setSyncEnabled(Boolean(on)),
    get sync() { return started().sync.enabled; },
    setTool: (key) => started().setTool(key),
    applyPreset: (name, index) => started().applyPreset(name, index),
    reset: (index) => started().reset(index),
    loadSeries: (index, studyId, seriesUid) => started().loadSeries(index, studyId, seriesUid),
  };
}

mount();
