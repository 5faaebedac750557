// A series' frames as Cornerstone loads them: image ids with their metadata registered with the
// wadors loader (the listing and metadata requests themselves are in listing.js).
import { wadors } from '@cornerstonejs/dicom-image-loader';
import { TAG, value } from './dicomjson.js';
import { seriesMetadata } from './prefetch.js';

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

