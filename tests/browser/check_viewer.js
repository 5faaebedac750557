// The comparison scenario: current study beside a prior, both rendered, synchronised scrolling
// on, off, and from the prior's side, lung preset, a length measurement, layout 4 and back, keyboard and wheel
// scrolling, a screenshot. Usage: node check_viewer.js URL OUTDIR. Prints one JSON object with
// what it saw at each step (the pytest test asserts on it); exits 1 with {"error"} on failure.
import path from 'node:path';
import {
  click, drawLength, finish, launchChromium, newPage, openViewer, scroll, viewerState, viewportBox,
  waitForStableLength, waitForState,
} from './harness.js';

const [url, outdir] = process.argv.slice(2);
if (!url || !outdir) {
  console.error('usage: node check_viewer.js URL OUTDIR');
  process.exit(2);
}

const browser = await launchChromium();
const page = await newPage(browser);
const result = { steps: {} };
const started = Date.now();
try {
  await openViewer(page, url);
  result.readyMs = Date.now() - started;
  const steps = result.steps;
  steps.initial = await viewerState(page);

  await scroll(page, 0, 10);
  steps.syncedScroll = await viewerState(page);

  await click(page, 'sync-toggle');
  steps.syncOff = await waitForState(page, (s) => s.sync === false, 5000, 'sync off');
  await scroll(page, 0, 4);
  steps.unsyncedScroll = await viewerState(page);

  await click(page, 'sync-toggle');
  const prior = await waitForState(page, (s) => s.sync === true, 5000, 'sync back on');
  await scroll(page, 1, 3 - prior.viewports[1].imageIndex);
  steps.reverseSync = await viewerState(page);
  await click(page, 'sync-toggle');
  await waitForState(page, (s) => s.sync === false, 5000, 'sync off again');

  await click(page, 'viewport-0');
  await click(page, 'preset-lung');
  steps.lung = await waitForState(page, (s) => s.viewports[0].windowWidth !== steps.initial.viewports[0].windowWidth, 5000, 'lung preset');

  const drag = await drawLength(page, 0);
  steps.length = await waitForStableLength(page, 0);
  steps.length.dragPixels = drag.pixels;
  steps.length.viewportBox = drag.box;

  await page.focus('[data-testid="viewport-1"]');
  const before = (await viewerState(page)).viewports[1].imageIndex;
  await page.keyboard.press('ArrowDown');
  steps.key = await waitForState(page, (s) => s.viewports[1].imageIndex !== before, 5000, 'keyboard scroll');
  steps.key.before = before;

  const box = await viewportBox(page, 1);
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  const beforeWheel = steps.key.viewports[1].imageIndex;
  await page.mouse.wheel(0, 120);
  steps.wheel = await waitForState(page, (s) => s.viewports[1].imageIndex !== beforeWheel, 5000, 'wheel scroll');
  steps.wheel.before = beforeWheel;

  await click(page, 'layout-4');
  steps.layout4 = await waitForState(page, (s) => s.layout === 4 && s.viewports.length === 4, 5000, 'layout 4');
  await click(page, 'tool-wl');
  await click(page, 'viewport-2');
  const priorId = steps.layout4.viewports[1].studyId;
  await page.click(`[data-testid="series-item"][data-study-id="${priorId}"]`);
  steps.picked = await waitForState(page, (s) => s.viewports[2].studyId === priorId && s.viewports[2].nonBlank, 10000, 'the picked series in viewport 3');
  await click(page, 'layout-2');
  steps.layout2 = await waitForState(page, (s) => s.layout === 2 && s.viewports.every((v) => v.nonBlank), 10000, 'layout 2 rendered');

  await page.waitForFunction(() => {
    const thumbs = document.querySelectorAll('[data-testid="series-thumb"]');
    return thumbs.length && [...thumbs].every((t) => t.querySelector('img') || t.title);
  }, null, { timeout: 10000 });
  result.seriesItems = await page.locator('[data-testid="series-item"]').count();
  result.thumbnails = await page.locator('[data-testid="series-thumb"] img').count();
  result.screenshot = path.join(outdir, 'viewer.png');
  await page.screenshot({ path: result.screenshot });
  result.overlay = await page.locator('[data-testid="overlay-0"]').innerText();
} catch (error) {
  result.error = String(error?.stack ?? error);
}
result.totalMs = Date.now() - started;
await finish(browser, page, result);
