// What the viewer asks the portal, with no Cornerstone in sight (the page's prefetch module
// runs it before the viewer bundle is parsed): the series list of a study (its seriesUrl), a
// series' DICOM JSON metadata and thumbnails, all same-origin under the study's DICOMweb root.
// Requests are made once per page: the viewer reuses what the prefetch started.
import { TAG, orderInstances, value } from './dicomjson.js';

/** Non-image modalities a viewport cannot show as a stack. */
const NON_IMAGE = new Set(['SR', 'KO', 'PR', 'SEG', 'RTSTRUCT', 'RTPLAN', 'DOC', 'REG']);

/** GET same-origin JSON; an Error naming the URL and status when it is not 200. */
export async function getJson(url, accept) {
  const answer = await fetch(url, { headers: { Accept: accept }, credentials: 'same-origin' });
  if (!answer.ok) throw new Error(`GET ${url}: HTTP ${answer.status}`);
  return answer.json();
}

/** The portal's description of one study: {study, wadoRoot, series: [...]}. */
async function fetchStudy(seriesUrl) {
  const body = await getJson(seriesUrl, 'application/json');
  if (!body?.study?.studyInstanceUid || !body.wadoRoot || !Array.isArray(body.series)) {
    throw new Error(`${seriesUrl}: not a series listing (study, wadoRoot, series expected)`);
  }
  body.series = body.series.filter((s) => !NON_IMAGE.has(s.modality));
  return body;
}

const listingCache = new Map();

/** A study's listing (its seriesUrl), fetched once per page. */
export function studyListing(seriesUrl) {
  if (!listingCache.has(seriesUrl)) {
    const pending = fetchStudy(seriesUrl);
    pending.catch(() => listingCache.delete(seriesUrl));
    listingCache.set(seriesUrl, pending);
  }
  return listingCache.get(seriesUrl);
}

const metadataCache = new Map();

/** The series' instance metadata (DICOM JSON), fetched once per series. */
export function seriesMetadata(wadoRoot, studyUid, seriesUid) {
  const url = `${wadoRoot}/studies/${studyUid}/series/${seriesUid}/metadata`;
  if (!metadataCache.has(url)) {
    const pending = getJson(url, 'application/dicom+json').then((instances) => {
      if (!Array.isArray(instances) || !instances.length) throw new Error(`${url}: no instances`);
      return orderInstances(instances);
    });
    pending.catch(() => metadataCache.delete(url));
    metadataCache.set(url, pending);
  }
  return metadataCache.get(url);
}

/** The instance a series' thumbnail shows: the listing's choice, else the middle one by position. */
async function thumbnailInstance(wadoRoot, studyUid, series) {
  if (series.thumbnailSopInstanceUid) return series.thumbnailSopInstanceUid;
  const instances = await seriesMetadata(wadoRoot, studyUid, series.seriesInstanceUid);
  return value(instances[Math.floor(instances.length / 2)], TAG.sopInstanceUid)?.[0];
}

/**
 * An object URL of one instance of the series rendered by the server (DICOMweb "rendered"),
 * asked as JPEG then PNG: some servers (Orthanc) refuse an Accept listing several types.
 */
export async function thumbnailUrl(wadoRoot, studyUid, series) {
  const sop = await thumbnailInstance(wadoRoot, studyUid, series);
  const url = `${wadoRoot}/studies/${studyUid}/series/${series.seriesInstanceUid}/instances/${sop}/rendered`;
  for (const type of ['image/jpeg', 'image/png']) {
    const answer = await fetch(url, { headers: { Accept: type } });
    if (answer.ok && (answer.headers.get('Content-Type') ?? '').startsWith('image/')) {
      return URL.createObjectURL(await answer.blob());
    }
  }
  throw new Error(`GET ${url}: no JPEG or PNG rendering`);
}

/**
 * What the two initial viewports show: the current study's largest series, and the prior's
 * largest series of the same modality (else its largest). `listingOf(studyId)` gives a study's
 * listing. Resolves to {first, second, priorError}; rejects when the current study cannot be
 * shown (the prior's failure only leaves its viewport empty).
 */
export async function initialChoices(config, listingOf) {
  const largest = (series) => [...series].sort((a, b) => (b.numberOfInstances ?? 0) - (a.numberOfInstances ?? 0))[0];
  const priorListing = config.prior ? listingOf(config.prior) : null; // both asked at once
  priorListing?.catch(() => {});
  const current = await listingOf(config.current);
  const first = current.series.length ? { studyId: config.current, series: largest(current.series) } : null;
  if (!first) throw new Error(`study ${config.current} has no image series`);
  if (!config.prior) return { first, second: null, priorError: null };
  let prior;
  try {
    prior = await priorListing;
  } catch (error) {
    return { first, second: null, priorError: error.message };
  }
  const sameModality = prior.series.filter((s) => s.modality === first.series.modality);
  const match = largest(sameModality.length ? sameModality : prior.series);
  return { first, second: match ? { studyId: config.prior, series: match } : null, priorError: null };
}

/** Start the initial viewports' requests: their listings, then their series' metadata. */
export function prefetchInitial(config) {
  const byId = new Map(config.studies.map((s) => [s.id, s.seriesUrl]));
  const listingOf = (id) => studyListing(byId.get(id));
  const choices = initialChoices(config, listingOf);
  choices.then(({ first, second }) => [first, second].forEach((choice) => choice && listingOf(choice.studyId)
    .then((l) => seriesMetadata(l.wadoRoot, l.study.studyInstanceUid, choice.series.seriesInstanceUid))
    .catch(() => {})), () => {});
  return choices;
}
