// Position-based stack scroll synchronisation. Cornerstone3D 5.14's own stack image sync
// cannot match slices across studies whose frames of reference differ (cornerstone3D issue
// 2762), so: on a member's new image, take that slice's position along the stack normal from
// the imagePlaneModule metadata and move every other member to its nearest slice (relative to
// each stack's first slice when frames of reference differ), ignoring the echo of our own moves.
import { Enums, metaData } from '@cornerstonejs/core';
import { matchSlice, normalOf } from './geometry.js';

/** Geometry of a stack viewport's images, or null when they carry no image plane. */
function stackGeometry(viewport) {
  const planes = viewport.getImageIds().map((id) => metaData.get('imagePlaneModule', id));
  if (!planes.length || planes.some((p) => !p?.imagePositionPatient || !p.rowCosines)) return null;
  const [first] = planes;
  return {
    positions: planes.map((p) => [...p.imagePositionPatient].map(Number)),
    normal: normalOf([...first.rowCosines, ...first.columnCosines].map(Number)),
    frameOfReferenceUID: first.frameOfReferenceUID,
  };
}

export class StackSync {
  /** @param {() => import('@cornerstonejs/core').StackViewport[]} members viewports to keep in step */
  constructor(members) {
    this.members = members;
    this.enabled = false;
    this.pending = new Map(); // viewportId → index we asked for (its echo must not propagate)
    this.inFlight = new Set();
    this.geometry = new Map(); // viewportId → {imageIds, geometry}
    this.onNewImage = (event) => this.follow(event.detail.viewportId, event.detail.imageIdIndex);
  }

  /** Listen to a viewport's element (called once per enabled element). */
  watch(element) {
    element.addEventListener(Enums.Events.STACK_NEW_IMAGE, this.onNewImage);
  }

  unwatch(element) {
    element.removeEventListener(Enums.Events.STACK_NEW_IMAGE, this.onNewImage);
  }

  geometryOf(viewport) {
    const imageIds = viewport.getImageIds();
    const known = this.geometry.get(viewport.id);
    if (known?.imageIds === imageIds) return known.geometry;
    const geometry = stackGeometry(viewport);
    this.geometry.set(viewport.id, { imageIds, geometry });
    return geometry;
  }

  follow(sourceId, index) {
    if (this.pending.get(sourceId) === index) {
      this.pending.delete(sourceId);
      return;
    }
    if (!this.enabled) return;
    const members = this.members();
    const source = members.find((v) => v.id === sourceId);
    const from = source && this.geometryOf(source);
    if (!from) return;
    for (const target of members) {
      if (target === source) continue;
      const to = this.geometryOf(target);
      const match = to ? matchSlice(from, to, index) : -1;
      if (match < 0 || match === target.getCurrentImageIdIndex()) continue;
      this.pending.set(target.id, match);
      const move = target.setImageIdIndex(match).finally(() => {
        this.inFlight.delete(move);
        if (this.pending.get(target.id) === match) this.pending.delete(target.id);
      });
      this.inFlight.add(move);
    }
  }

  /** Resolves once the moves already started have displayed their images. */
  async settled() {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }
}
