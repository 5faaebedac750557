// Reusable pieces of the browser tests: launch Debian's Chromium through playwright-core, open
// a page holding the comparison viewer, wait for it, read its state and drive it like a user.
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.PARTAGE_CHROMIUM ?? '/usr/bin/chromium';

/** Headless Chromium as the tests run it (no sandbox in containers, no GPU, no background traffic). */
export function launchChromium() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

/**
 * A new page (own context, given viewport size) that records console errors, uncaught
 * exceptions and failed requests in `page.problems`, so a test can show why a step failed.
 */
export async function newPage(browser, { width = 1400, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.problems = [];
  // a failed load is logged twice (console and response): keep the response, it names the URL
  page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource')
    && page.problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => page.problems.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => r.status() >= 400 && page.problems.push(`HTTP ${r.status()}: ${r.url()}`));
  return page;
}

/** Go to `url` and wait until window.partageViewer.ready has resolved (its error if it rejects). */
export async function openViewer(page, url, timeout = 60000) {
  await page.goto(url);
  await page.waitForFunction(() => window.partageViewer !== undefined, null, { timeout });
  await page.evaluate(
    (ms) => Promise.race([
      window.partageViewer.ready,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`viewer not ready after ${ms} ms`)), ms)),
    ]),
    timeout,
  );
}

/** Go to `url` and report how window.partageViewer.ready settled: {ok} or {ok: false, error}. */
export async function openViewerOutcome(page, url, timeout = 60000) {
  try {
    await openViewer(page, url, timeout);
    return { ok: true };
  } catch (error) {
    return { ok: false, error: String(error?.message ?? error) };
  }
}

export function viewerState(page) {
  return page.evaluate(() => window.partageViewer.state());
}

/** Scroll viewport `index` (0-based) by `delta` through the hook; resolves once followers moved. */
export function scroll(page, index, delta) {
  return page.evaluate(([i, d]) => window.partageViewer.scroll(i, d), [index, delta]);
}

/** Poll the viewer's state until `predicate(state)` holds; returns that state. */
export async function waitForState(page, predicate, timeout = 15000, what = 'viewer state') {
  const deadline = Date.now() + timeout;
  for (;;) {
    const state = await viewerState(page);
    if (predicate(state)) return state;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(state)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Wait for a length measurement on viewport `index` whose value no longer changes (the tool
 * recomputes its statistics a moment after the mouse is released); returns that state.
 */
export async function waitForStableLength(page, index, timeout = 10000) {
  let previous = null;
  return waitForState(page, (state) => {
    const lengths = JSON.stringify(state.viewports[index].measurements);
    const stable = lengths === previous && state.viewports[index].measurements.some((m) => m.length > 0);
    previous = lengths;
    return stable;
  }, timeout, `a settled length measurement on viewport ${index}`);
}

/** Click a toolbar control by its data-testid. */
export function click(page, testid) {
  return page.click(`[data-testid="${testid}"]`);
}

/** The on-screen box of viewport `index` (0-based). */
export async function viewportBox(page, index) {
  const box = await page.locator(`[data-testid="viewport-${index}"]`).boundingBox();
  if (!box) throw new Error(`viewport ${index} is not displayed`);
  return box;
}

/**
 * Draw a length measurement with the mouse across viewport `index`, from and to fractions of
 * its box ({x, y} in 0..1), the way a radiologist does with the Length tool.
 */
export async function drawLength(page, index, from = { x: 0.3, y: 0.5 }, to = { x: 0.7, y: 0.5 }) {
  await click(page, 'tool-length');
  const box = await viewportBox(page, index);
  const at = (f) => [box.x + f.x * box.width, box.y + f.y * box.height];
  await page.mouse.move(...at(from));
  await page.mouse.down();
  await page.mouse.move(...at(to), { steps: 12 });
  await page.mouse.up();
  return { pixels: Math.hypot((to.x - from.x) * box.width, (to.y - from.y) * box.height), box };
}

/**
 * End a scenario script: record the page's problems, close the browser, print the result as
 * one JSON line (what the pytest test reads) and exit 1 when a step failed.
 */
export async function finish(browser, page, result) {
  result.problems = page.problems;
  await browser.close();
  console.log(JSON.stringify(result));
  process.exit(result.error ? 1 : 0);
}
