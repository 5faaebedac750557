// Slice ordering and cross-study slice matching (node --test; no browser needed).
import assert from 'node:assert/strict';
import test from 'node:test';
import { TAG, orderInstances } from '../src/dicomjson.js';
import { matchSlice, nearestIndex, normalOf } from '../src/geometry.js';

const AXIAL = [1, 0, 0, 0, 1, 0];
const stack = (zs, frameOfReferenceUID, { x = 0, orientation = AXIAL } = {}) => ({
  positions: zs.map((z) => [x, x, z]), normal: normalOf(orientation), frameOfReferenceUID,
});
const range = (n, first, step) => Array.from({ length: n }, (_, i) => first + step * i);

test('the normal of an axial slice points to the head', () => {
  assert.deepEqual(normalOf(AXIAL), [0, 0, 1]);
});

test('nearest index picks the closest position, -1 for an empty stack', () => {
  assert.equal(nearestIndex([10, 5, 0, -5], 1.4), 2);
  assert.equal(nearestIndex([10, 5, 0, -5], -100), 3);
  assert.equal(nearestIndex([], 0), -1);
});

test('same frame of reference: slices match by absolute position', () => {
  const current = stack(range(40, 0, -2.5), '1.2.3');
  const prior = stack(range(24, 40, -5), '1.2.3'); // z from +40 down to -75
  assert.equal(matchSlice(current, prior, 0), 8); // z 0
  assert.equal(matchSlice(current, prior, 10), 13); // z -25 → -25
  assert.equal(matchSlice(prior, current, 0), 0); // z +40: above the current, its first slice
});

test('different frames of reference: slices match by distance from each first slice', () => {
  const current = stack(range(40, 0, -2.5), '1.2.3');
  const prior = stack(range(24, 40, -5), '9.8.7', { x: 150 });
  assert.equal(matchSlice(current, prior, 0), 0);
  assert.equal(matchSlice(current, prior, 10), 5); // 25 mm down both
  assert.equal(matchSlice(current, prior, 39), 19); // 97.5 mm → 95 or 100: the first nearest
  assert.equal(matchSlice(prior, current, 23), 39); // 115 mm: past the current's end
});

test('a stack stored foot to head still matches from its head end', () => {
  const current = stack(range(10, 0, -2.5), '1.2.3');
  const reversed = stack(range(10, -45, 5), '4.5.6'); // -45 … 0, head last
  assert.equal(matchSlice(current, reversed, 0), 9);
  assert.equal(matchSlice(current, reversed, 2), 8);
});

test('stacks in different planes do not match', () => {
  const axial = stack(range(10, 0, -2.5), '1.2.3');
  const sagittal = stack(range(10, 0, -2.5), '1.2.3', { orientation: [0, 1, 0, 0, 0, -1] });
  assert.equal(matchSlice(axial, sagittal, 3), -1);
  assert.equal(matchSlice(axial, stack([], '1.2.3'), 3), -1);
});

const instance = (number, z) => ({
  [TAG.instanceNumber]: { vr: 'IS', Value: [number] },
  ...(z === undefined ? {} : {
    [TAG.imagePosition]: { vr: 'DS', Value: [0, 0, z] },
    [TAG.imageOrientation]: { vr: 'DS', Value: AXIAL },
  }),
});
const numbers = (instances) => instances.map((i) => i[TAG.instanceNumber].Value[0]);

test('instances are ordered head to foot whatever their numbers', () => {
  assert.deepEqual(numbers(orderInstances([instance(1, -10), instance(2, 5), instance(3, 0)])), [2, 3, 1]);
});

test('without geometry on every instance, InstanceNumber orders them', () => {
  assert.deepEqual(numbers(orderInstances([instance(3, 0), instance(1), instance(2, 5)])), [1, 2, 3]);
});
