// Reading DICOM JSON (PS3.18 F.2) the way the viewer needs it: pure functions, no I/O.
import { dot, normalOf } from './geometry.js';

export const TAG = {
  sopInstanceUid: '00080018',
  instanceNumber: '00200013',
  imagePosition: '00200032',
  imageOrientation: '00200037',
  numberOfFrames: '00280008',
};

/** The Value array of a DICOM JSON attribute, or undefined. */
export function value(instance, tag) {
  return instance[tag]?.Value;
}

/**
 * Order instances head to foot (descending position along the slice normal), as radiologists
 * read axial stacks; by InstanceNumber when some instance carries no geometry.
 */
export function orderInstances(instances) {
  const first = instances.find((i) => value(i, TAG.imageOrientation)?.length === 6);
  const byNumber = (a, b) =>
    (value(a, TAG.instanceNumber)?.[0] ?? 0) - (value(b, TAG.instanceNumber)?.[0] ?? 0);
  if (!first || !instances.every((i) => value(i, TAG.imagePosition)?.length === 3)) {
    return [...instances].sort(byNumber);
  }
  const n = normalOf(value(first, TAG.imageOrientation).map(Number));
  const along = (i) => dot(value(i, TAG.imagePosition).map(Number), n);
  return [...instances].sort((a, b) => along(b) - along(a) || byNumber(a, b));
}
