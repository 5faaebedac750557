// A radiologist's walk through the real portal, as a user does it: open a patient's link, sign
// in on the IdP's login page, see the timeline with studies from every site, take the current
// study from one site, open it beside the most relevant prior from another, check both
// viewports show pixels, scroll one and see the other follow, measure a length; then a patient
// signs in and is refused. Also the browser half of `partage bench portal` (the timings).
//
// Usage: node portal_flow.js CONFIG_JSON, CONFIG_JSON = {"portal", "outdir", "ins",
// "login", "password", "patientLogin", "currentSite", "priorSite", "modality"}.
// Prints one JSON object (the pytest test and the bench read it); exits 1 with {"error"}.
import path from 'node:path';
import {
  drawLength, finish, launchChromium, newPage, scroll, viewerState, waitForStableLength, waitForState,
} from './harness.js';

const config = JSON.parse(process.argv[2] ?? '{}');
for (const key of ['portal', 'outdir', 'ins', 'login', 'password', 'currentSite', 'priorSite']) {
  if (!config[key]) {
    console.error(`portal_flow.js: config needs "${key}"`);
    process.exit(2);
  }
}

/** Fill the IdP's login form and submit it; resolves when the browser is back on the portal. */
async function signIn(page, login, password) {
  await page.waitForSelector('input[name="login"]');
  result.loginPage = new URL(page.url()).origin;
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', password);
  const submitted = performance.now();
  await Promise.all([
    page.waitForURL((url) => url.origin === new URL(config.portal).origin, { timeout: 30000 }),
    page.click('button[type="submit"], input[type="submit"]'),
  ]);
  return submitted;
}

const result = { steps: {} };
const browser = await launchChromium();
const page = await newPage(browser);
try {
  // 1. a deep link to the patient (as from the RIS): sign-in first, then the timeline
  const patientUrl = `${config.portal}/patients/${encodeURIComponent(config.ins)}`;
  await page.goto(patientUrl);
  const submitted = await signIn(page, config.login, config.password);
  await page.waitForSelector('[data-testid="timeline"] [data-testid="timeline-mark"]');
  result.timelineMs = performance.now() - submitted;
  result.patientName = await page.locator('[data-testid="patient-name"]').innerText();
  result.marks = await page.locator('[data-testid="timeline-mark"]').evaluateAll(
    (marks) => marks.map((m) => ({ id: m.dataset.studyId, site: m.dataset.site })));
  result.rows = await page.locator('[data-testid="study-row"]').evaluateAll(
    (rows) => rows.map((r) => ({ id: r.dataset.studyId, site: r.dataset.site, text: r.innerText })));

  // 2. the search finds the same patient by name
  await page.goto(`${config.portal}/`);
  await page.fill('[data-testid="search-box"]', result.patientName.split(' ')[0]);
  await page.click('[data-testid="search-submit"]');
  await page.waitForSelector('[data-testid="result-row"], [data-testid="no-results"]');
  result.searchResults = await page.locator('[data-testid="result-row"]').allInnerTexts();
  await page.click('[data-testid="result-link"]');
  await page.waitForSelector('[data-testid="timeline"]');

  // 3. the current study: the newest of its modality at the current site
  const current = result.rows.find((r) => r.site === config.currentSite
    && (!config.modality || r.text.includes(config.modality)));
  if (!current) throw new Error(`no ${config.modality ?? ''} study of ${config.currentSite} on the timeline`);
  await page.click(`[data-testid="study-row"][data-study-id="${current.id}"] [data-testid="choose-current"]`);
  await page.waitForSelector('[data-testid="current-study"]');
  const best = page.locator('[data-testid="best-prior"]');
  result.bestPrior = { id: await best.getAttribute('data-study-id') };
  result.bestPrior.site = await page.locator(
    `[data-testid="study-row"][data-study-id="${result.bestPrior.id}"]`).getAttribute('data-site');

  // 4. compare: the viewer with the current study beside the prior, pixels in both
  const compared = performance.now();
  await page.click('[data-testid="compare"]');
  await page.waitForFunction(() => window.partageViewer !== undefined);
  const rendered = await waitForState(page, (s) => s.viewports.length >= 2
    && s.viewports[1].nonBlank, 60000, 'the prior rendered');
  result.firstPriorFrameMs = performance.now() - compared;
  // where that time went: the page's own requests, relative to its navigation start
  result.compareRequests = await page.evaluate(() => performance.getEntriesByType('resource')
    .map((r) => ({ url: r.name.replace(location.origin, ''), start: Math.round(r.startTime),
      ms: Math.round(r.duration) })));
  result.compareMarks = await page.evaluate(() => Object.fromEntries([
    ['response', performance.getEntriesByType('navigation')[0]?.responseStart],
    ...performance.getEntriesByType('mark').map((m) => [m.name, m.startTime]),
  ].map(([name, at]) => [name, Math.round(at ?? -1)])));
  await page.evaluate(() => window.partageViewer.ready);
  result.steps.initial = await viewerState(page);
  result.steps.initial.priorRenderedAt = rendered.viewports[1].imageIndex;

  // the picker offers every study of the patient (the page named two; the rest are listed later)
  await page.waitForFunction((n) => document.querySelectorAll('.pv-study').length >= n,
    result.marks.length, { timeout: 15000 });
  result.pickerStudies = await page.locator('.pv-study').count();

  // 5. scroll the current study: the prior follows (synchronised by position)
  await scroll(page, 0, 5);
  result.steps.scrolled = await viewerState(page);

  // 6. a length on the current study
  await drawLength(page, 0);
  result.steps.length = await waitForStableLength(page, 0);
  result.screenshot = path.join(config.outdir, 'portal-compare.png');
  await page.screenshot({ path: result.screenshot });

  // 7. a patient signs in: refused with the professionals-only page
  if (config.patientLogin) {
    const patient = await newPage(browser);
    await patient.goto(`${config.portal}/`);
    const login = patient.locator('[data-testid="login"]');
    if (await login.count()) await login.first().click();
    await signIn(patient, config.patientLogin, config.password);
    const refusal = await patient.goto(`${config.portal}/patients/${encodeURIComponent(config.ins)}`);
    result.patientStatus = refusal.status();
    result.patientRefusal = await patient.locator('[data-testid="professionals-only"]').innerText();
    result.patientProblems = patient.problems.filter((p) => !p.startsWith('HTTP 403'));
  }
} catch (error) {
  result.error = String(error?.stack ?? error);
}
await finish(browser, page, result);
