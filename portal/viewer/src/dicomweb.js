// What the viewer asks the portal: the series list of a study (its seriesUrl), a series'
// DICOM JSON metadata and thumbnails, all same-origin under the study's DICOMweb root.
import { wadors } from '@cornerstonejs/dicom-image-loader';
import { TAG, orderInstances, value } from './dicomjson.js';

/** Non-image modalities a viewport cannot show as a stack. */
const NON_IMAGE = new Set(['SR', 'KO', 'PR', 'SEG', 'RTSTRUCT', 'RTPLAN', 'DOC', 'REG']);

async function getJson(url, accept) {
  const answer = await fetch(url, { headers: { Accept: accept }, credentials: 'same-origin' });
  if (!answer.ok) throw new Error(`GET ${url}: HTTP ${answer.status}`);
  return answer.json();
}

/** The portal's description of one study: {study, wadoRoot, series: [...]}. */
export async function fetchStudy(seriesUrl) {
  const body = await getJson(seriesUrl, 'application/json');
  if (!body?.study?.studyInstanceUid || !body.wadoRoot || !Array.isArray(body.series)) {
    throw new Error(`${seriesUrl}: not a series listing (study, wadoRoot, series expected)`);
  }
  body.series = body.series.filter((s) => !NON_IMAGE.has(s.modality));
  return body;
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

/**
 * Cornerstone image ids (one per frame) of a series, its metadata registered with the wadors
 * loader so that frames load without a further metadata request.
 */
export async function seriesImageIds(wadoRoot, studyUid, seriesUid) {
  const instances = await seriesMetadata(wadoRoot, studyUid, seriesUid);
  const base = `wadors:${window.location.origin}${wadoRoot}/studies/${studyUid}/series/${seriesUid}`;
  const imageIds = [];
  for (const instance of instances) {
    const sop = value(instance, TAG.sopInstanceUid)?.[0];
    const frames = Number(value(instance, TAG.numberOfFrames)?.[0] ?? 1) || 1;
    for (let frame = 1; frame <= frames; frame += 1) {
      const imageId = `${base}/instances/${sop}/frames/${frame}`;
      wadors.metaDataManager.add(imageId, instance);
      imageIds.push(imageId);
    }
  }
  return imageIds;
}

/**
 * An object URL of the series' middle instance rendered by the server (DICOMweb "rendered"),
 * asked as JPEG then PNG: some servers (Orthanc) refuse an Accept listing several types.
 */
export async function thumbnailUrl(wadoRoot, studyUid, seriesUid) {
  const instances = await seriesMetadata(wadoRoot, studyUid, seriesUid);
  const middle = instances[Math.floor(instances.length / 2)];
  const sop = value(middle, TAG.sopInstanceUid)?.[0];
  const url = `${wadoRoot}/studies/${studyUid}/series/${seriesUid}/instances/${sop}/rendered`;
  for (const type of ['image/jpeg', 'image/png']) {
    const answer = await fetch(url, { headers: { Accept: type } });
    if (answer.ok && (answer.headers.get('Content-Type') ?? '').startsWith('image/')) {
      return URL.createObjectURL(await answer.blob());
    }
  }
  throw new Error(`GET ${url}: no JPEG or PNG rendering`);
}
