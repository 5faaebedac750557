// Consent as the people concerned live it, in headless Chromium against the real region:
// a patient hides a study and blocks a radiologist in her privacy centre; the radiologists'
// portal stops showing what she refused (timeline and direct image URLs); another radiologist
// breaks the glass for a patient who shares nothing but allows emergency access, with a written
// reason; that patient finds it in her notifications and access log.
//
// Usage: node consent_flow.js CONFIG_JSON, CONFIG_JSON = {"portal", "privacy", "outdir",
// "hider": {"login", "ins", "hiddenStudyUid", "hiddenDescription", "keptDescription"},
// "blocked": {"login", "rpps"}, "reader": {"login", "rpps"},
// "refuser": {"login", "ins", "description"}, "reason", "password", "settleMs"}.
// Prints one JSON object of what was seen (the pytest test asserts on it); exits 1 with {"error"}.
import path from 'node:path';
import { launchChromium, newPage } from './harness.js';

const config = JSON.parse(process.argv[2] ?? '{}');
for (const key of ['portal', 'privacy', 'outdir', 'hider', 'blocked', 'reader', 'refuser', 'reason']) {
  if (!config[key]) {
    console.error(`consent_flow.js: config needs "${key}"`);
    process.exit(2);
  }
}
const password = config.password ?? 'demo';
// a policy change is acted on everywhere within 5 s (the consent service's promise)
const settleMs = config.settleMs ?? 6000;
const result = { steps: {} };

/** Open `url`, sign in on the IdP's login page as `login`, and wait to be back on `url`'s site. */
async function signedIn(page, url, login) {
  await page.goto(url);
  await page.waitForSelector('input[name="login"]');
  await page.fill('input[name="login"]', login);
  await page.fill('input[name="password"]', password);
  await Promise.all([
    page.waitForURL((u) => u.origin === new URL(url).origin, { timeout: 30000 }),
    page.click('button[type="submit"], input[type="submit"]'),
  ]);
}

/** The portal's patient page as the user sees it: study rows, hidden notice, emergency state. */
async function patientView(page, ins) {
  await page.goto(`${config.portal}/patients/${encodeURIComponent(ins)}`);
  await page.waitForSelector('[data-testid="patient-name"]');
  const notice = page.locator('[data-testid="hidden-notice"]');
  return {
    rows: await page.locator('[data-testid="study-row"]').evaluateAll(
      (rows) => rows.map((r) => ({ id: r.dataset.studyId, site: r.dataset.site, text: r.innerText }))),
    marks: await page.locator('[data-testid="timeline-mark"]').count(),
    hiddenCount: (await notice.count()) ? Number(await notice.getAttribute('data-count')) : 0,
    hiddenReasons: await page.locator('[data-testid="hidden-reason"]').allInnerTexts(),
    emergencyOffered: (await page.locator('[data-testid="emergency-open"]').count()) > 0,
    text: await page.locator('main').innerText(),
  };
}

/** Poll the patient page until `predicate(view)` holds (within the 5 s promise plus margin). */
async function viewUntil(page, ins, predicate, what) {
  const deadline = Date.now() + settleMs;
  for (;;) {
    const view = await patientView(page, ins);
    if (predicate(view)) return view;
    if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(view.rows)}`);
    await page.waitForTimeout(500);
  }
}

/** GET `url` from the page as the viewer would (same origin, the user's session cookie): frames
 * as multipart, anything else as JSON; status, content type and the start of a refusal. */
function fetchStatus(page, url) {
  const accept = url.includes('/frames/')
    ? 'multipart/related; type="application/octet-stream"; transfer-syntax=*' : 'application/json';
  return page.evaluate(async ([u, a]) => {
    const answer = await fetch(u, { headers: { Accept: a } });
    return { status: answer.status, type: answer.headers.get('content-type') ?? '',
      body: answer.status === 200 ? '' : (await answer.text()).slice(0, 300) };
  }, [url, accept]);
}

/** The first frame URL of study `id` through the portal, from the viewer's series listing. */
async function frameUrl(page, id) {
  const listing = await page.evaluate(async (studyId) => {
    const answer = await fetch(`/api/studies/${studyId}/series`);
    return answer.ok ? answer.json() : { error: answer.status };
  }, id);
  if (!listing.series?.length) throw new Error(`no series for study ${id}: ${JSON.stringify(listing)}`);
  const series = listing.series[0];
  return `${listing.wadoRoot}/studies/${listing.study.studyInstanceUid}/series/${series.seriesInstanceUid}`
    + `/instances/${series.thumbnailSopInstanceUid}/frames/1`;
}

/** The privacy centre's page `where`, once the patient is signed in there. */
async function centre(page, where) {
  await page.goto(`${config.privacy}${where}`);
  await page.waitForSelector('[data-testid="user-name"]');
}

const browser = await launchChromium();
const pages = [];
async function fresh() {
  const page = await newPage(browser);
  pages.push(page);
  return page;
}

try {
  const { hider, blocked, reader, refuser } = config;

  // 1. before any choice: the reader sees both of the hider's studies and can read the pixels
  const doctor = await fresh();
  await signedIn(doctor, `${config.portal}/patients/${encodeURIComponent(hider.ins)}`, reader.login);
  const before = await patientView(doctor, hider.ins);
  const hiddenRow = before.rows.find((r) => r.text.includes(hider.hiddenDescription));
  const keptRow = before.rows.find((r) => r.text.includes(hider.keptDescription));
  if (!hiddenRow || !keptRow) throw new Error(`studies not listed before: ${JSON.stringify(before.rows)}`);
  const hiddenFrame = await frameUrl(doctor, hiddenRow.id);
  const keptFrame = await frameUrl(doctor, keptRow.id);
  result.steps.before = {
    rows: before.rows.length, hiddenCount: before.hiddenCount,
    hiddenFrame: await fetchStatus(doctor, hiddenFrame), keptFrame: await fetchStatus(doctor, keptFrame),
  };

  // 2. the patient hides that study and blocks a radiologist in her privacy centre
  const patient = await fresh();
  await signedIn(patient, `${config.privacy}/studies`, hider.login);
  await centre(patient, '/studies');
  const row = patient.locator(`[data-testid="study-row"][data-study-uid="${hider.hiddenStudyUid}"]`);
  await Promise.all([patient.waitForLoadState('load'), row.locator('[data-testid="hide-study"]').click()]);
  await patient.waitForSelector(
    `[data-testid="study-row"][data-study-uid="${hider.hiddenStudyUid}"][data-hidden="true"]`);
  await centre(patient, '/policy');
  await patient.fill('[data-testid="blocked-professionals"]', blocked.rpps);
  await Promise.all([patient.waitForSelector('[data-testid="saved"]'), patient.click('[data-testid="save-policy"]')]);
  await centre(patient, '/history');
  result.steps.patient = {
    versions: await patient.locator('[data-testid="history-row"]').count(),
    changes: await patient.locator('[data-testid="history-change"]').allInnerTexts(),
  };
  await patient.screenshot({ path: path.join(config.outdir, 'privacy-history.png'), fullPage: true });

  // 3. the reader no longer sees the hidden study, is told something is hidden without what,
  //    and gets 403 on its pixels through the URL that worked a moment ago
  const after = await viewUntil(doctor, hider.ins,
    (v) => !v.rows.some((r) => r.id === hiddenRow.id), 'the hidden study is still listed');
  result.steps.reader = {
    rows: after.rows.map((r) => r.id), keptListed: after.rows.some((r) => r.id === keptRow.id),
    hiddenCount: after.hiddenCount, hiddenReasons: after.hiddenReasons,
    namesHidden: after.text.includes(hider.hiddenDescription),
    hiddenFrame: await fetchStatus(doctor, hiddenFrame), keptFrame: await fetchStatus(doctor, keptFrame),
    hiddenSeries: await fetchStatus(doctor, `/api/studies/${hiddenRow.id}/series`),
  };
  await doctor.screenshot({ path: path.join(config.outdir, 'portal-hidden-notice.png'), fullPage: true });

  // 4. the blocked radiologist sees none of the patient's studies, even by direct URL
  const other = await fresh();
  await signedIn(other, `${config.portal}/patients/${encodeURIComponent(hider.ins)}`, blocked.login);
  const refused = await viewUntil(other, hider.ins, (v) => v.rows.length === 0,
    'the blocked radiologist still sees studies');
  result.steps.blocked = {
    rows: refused.rows.length, hiddenCount: refused.hiddenCount, hiddenReasons: refused.hiddenReasons,
    emergencyOffered: refused.emergencyOffered,
    keptFrame: await fetchStatus(other, keptFrame), hiddenFrame: await fetchStatus(other, hiddenFrame),
    keptSeries: await fetchStatus(other, `/api/studies/${keptRow.id}/series`),
  };

  // 5. the reader breaks the glass for a patient who shares nothing but allows emergencies
  const closed = await patientView(doctor, refuser.ins);
  result.steps.emergency = { rowsBefore: closed.rows.length, offered: closed.emergencyOffered };
  await doctor.click('[data-testid="emergency-open"]');
  await doctor.fill('[data-testid="emergency-reason"]', config.reason);
  await Promise.all([doctor.waitForLoadState('load'), doctor.click('[data-testid="emergency-submit"]')]);
  await doctor.waitForSelector('[data-testid="emergency-banner"]');
  result.steps.emergency.banner = await doctor.locator('[data-testid="emergency-banner"]').innerText();
  const opened = await patientView(doctor, refuser.ins);
  const emergencyRow = opened.rows.find((r) => r.text.includes(refuser.description));
  result.steps.emergency.rowsAfter = opened.rows.length;
  result.steps.emergency.frame = emergencyRow
    ? await fetchStatus(doctor, await frameUrl(doctor, emergencyRow.id)) : null;
  await doctor.screenshot({ path: path.join(config.outdir, 'portal-emergency.png'), fullPage: true });

  // 6. that patient finds it in her notifications and in her access log
  const owner = await fresh();
  await signedIn(owner, `${config.privacy}/notifications`, refuser.login);
  await centre(owner, '/notifications');
  result.steps.notified = {
    unread: Number((await owner.locator('[data-testid="notification-count"]').innerText().catch(() => '0')) || 0),
    rows: await owner.locator('[data-testid="notification-row"]').allInnerTexts(),
    reasons: await owner.locator('[data-testid="notification-reason"]').allInnerTexts(),
  };
  await owner.screenshot({ path: path.join(config.outdir, 'privacy-notifications.png'), fullPage: true });
  // the access is audited by the gateway that served the pixels: delivered in the background
  const deadline = Date.now() + 20000;
  let accesses = [];
  for (;;) {
    await centre(owner, '/access-log');
    accesses = await owner.locator('[data-testid="access-row"]').evaluateAll(
      (rows) => rows.map((r) => ({ rpps: r.dataset.rpps, emergency: r.dataset.emergency, text: r.innerText })));
    if (accesses.some((a) => a.rpps === reader.rpps && a.emergency === 'true') || Date.now() > deadline) break;
    await owner.waitForTimeout(500);
  }
  result.steps.notified.accesses = accesses;
  await owner.screenshot({ path: path.join(config.outdir, 'privacy-access-log.png'), fullPage: true });
} catch (error) {
  result.error = String(error?.stack ?? error);
  result.problems = pages.flatMap((p) => p.problems);
}
await browser.close();
console.log(JSON.stringify(result));
process.exit(result.error ? 1 : 0);
