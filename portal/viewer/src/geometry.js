// Slice geometry for ordering a stack and matching slices across stacks. Pure functions: the
// viewer's sync and the series ordering both depend on them, so they stay free of Cornerstone.

/** Cross product of a 3-vector pair. */
export function cross(a, b) {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

/** Dot product of two 3-vectors. */
export function dot(a, b) {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/** The slice normal (row cosines × column cosines) of an Image Orientation (Patient). */
export function normalOf(orientation) {
  return cross(orientation.slice(0, 3), orientation.slice(3, 6));
}

/**
 * Index of the value in `positions` nearest to `target` (first one on ties), or -1 when empty.
 * Positions are millimetres along a common normal.
 */
export function nearestIndex(positions, target) {
  let best = -1;
  let bestDistance = Infinity;
  positions.forEach((p, i) => {
    const d = Math.abs(p - target);
    if (d < bestDistance) {
      best = i;
      bestDistance = d;
    }
  });
  return best;
}

/**
 * Where slice `sourceIndex` of the source stack falls in the target stack, by position along the
 * source normal. Each stack is given as {positions: [[x,y,z]...], normal, frameOfReferenceUID}.
 * When the frames of reference differ, patient coordinates are not comparable, so positions are
 * taken relative to each stack's extreme slice along the normal (its "first" slice). Returns -1
 * when the stacks are not parallel (no meaningful slice match).
 */
export function matchSlice(source, target, sourceIndex) {
  const n = source.normal;
  if (!target.positions.length || Math.abs(dot(n, target.normal)) < 0.9) return -1;
  const along = (stack) => stack.positions.map((p) => dot(p, n));
  const s = along(source);
  const t = along(target);
  if (source.frameOfReferenceUID && source.frameOfReferenceUID === target.frameOfReferenceUID) {
    return nearestIndex(t, s[sourceIndex]);
  }
  const sOrigin = Math.max(...s);
  const tOrigin = Math.max(...t);
  return nearestIndex(t.map((v) => v - tOrigin), s[sourceIndex] - sOrigin);
}
