// The comparison viewer: a toolbar, a series picker listing every study of the patient, and a
// grid of 1, 2 or 4 stack viewports, each able to show any series of any study (any site).
import { Enums, eventTarget, metaData, utilities } from '@cornerstonejs/core';
import {
  ENGINE_ID, PRIMARY_TOOLS, setPrimaryTool, startRendering, startTools,
} from './cornerstone.js';
import { LAYOUTS } from './config.js';
import { seriesImageIds } from './dicomweb.js';
import { getJson, prefetchInitial, studyListing, thumbnailUrl } from './prefetch.js';
import { StackSync } from './sync.js';

/** Window presets (width, centre) in Hounsfield units. */
export const PRESETS = {
  lung: { width: 1500, center: -600 },
  mediastinum: { width: 350, center: 50 },
  bone: { width: 2000, center: 300 },
  brain: { width: 80, center: 40 },
};
const CROSS_SECTIONAL = new Set(['CT', 'MR']);
const SLOTS = 4;
/** Series listings of studies not on screen fetched at once (the picker's). */
const LISTING_CONCURRENCY = 2;
const KEY_STEPS = { ArrowDown: 1, ArrowRight: 1, ArrowUp: -1, ArrowLeft: -1, PageDown: 10, PageUp: -10 };

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, val] of Object.entries(attributes)) {
    if (key === 'testid') node.dataset.testid = val;
    else if (key === 'className') node.className = val;
    else node.setAttribute(key, val);
  }
  node.append(...children);
  return node;
}

const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

function once(target, type) {
  return new Promise((resolve) => target.addEventListener(type, resolve, { once: true }));
}

/** True when the canvas shows a picture: not every pixel has the same colour. */
function canvasNonBlank(canvas) {
  const { width, height } = canvas;
  if (!width || !height) return false;
  const probe = document.createElement('canvas');
  probe.width = width;
  probe.height = height;
  const context = probe.getContext('2d', { willReadFrequently: true });
  context.drawImage(canvas, 0, 0);
  const pixels = new Uint32Array(context.getImageData(0, 0, width, height).data.buffer);
  return pixels.some((p) => p !== pixels[0]);
}

function imagePosition(imageId) {
  const position = imageId && metaData.get('imagePlaneModule', imageId)?.imagePositionPatient;
  return position ? [...position].map(Number) : null;
}

export class ComparisonViewer {
  constructor(root, config) {
    this.root = root;
    this.config = config;
    this.studies = new Map(config.studies.map((s) => [s.id, s]));
    this.listings = new Map(); // study id → Promise of its series listing
    this.thumbnails = new Map(); // series UID → Promise of its thumbnail's object URL
    this.waiting = []; // queued listings' starters
    this.runningTasks = 0;
    this.layout = 0;
    this.active = 0;
    this.tool = 'wl';
    this.slots = Array.from({ length: SLOTS }, (_, index) => ({
      index, viewportId: `partage-vp-${index}`, enabled: false,
      studyId: null, series: null, imageIds: [], imageIndex: 0, error: null,
    }));
  }

  /** Build the page, load the initial series; resolves once they have rendered. */
  async start() {
    this.buildDom();
    // the two studies on screen are listed, and their series' metadata fetched, while
    // Cornerstone starts (already under way when the page's prefetch module ran)
    const initial = prefetchInitial(this.config);
    this.engine = startRendering();
    performance.mark('partage:cornerstone-started');
    const tools = startTools(); // its own chunk, loaded while the first frames come
    this.sync = new StackSync(() => this.shownSlots().map((s) => this.viewport(s)));
    const { first, second, priorError } = await initial;
    if (priorError) this.slots[1].error = priorError; // the current study is still worth showing
    this.setSyncEnabled(
      Boolean(first && second) && CROSS_SECTIONAL.has(first.series.modality)
        && CROSS_SECTIONAL.has(second.series.modality),
    );
    await this.setLayout(this.config.layout, false);
    eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_FAILED, (event) => this.onLoadFailed(event.detail));
    await Promise.all([first, second].map((choice, i) => choice && this.loadSeries(i, choice.studyId, choice.series.seriesInstanceUid)));
    performance.mark('partage:viewports-rendered');
    this.attachTools(await tools);
    const failed = this.slots.find((slot) => slot.error);
    if (failed) throw new Error(`viewport ${failed.index + 1}: ${failed.error}`);
    new ResizeObserver(() => this.engine.resize(true, true)).observe(this.grid);
    this.renderPicker();
    if (this.config.studiesUrl) this.listOtherStudies(this.config.studiesUrl);
  }

  /** The tools take over every enabled viewport, the toolbar's tool on the left button. */
  attachTools(tools) {
    this.tools = tools;
    for (const slot of this.slots.filter((s) => s.enabled)) {
      tools.adopt(slot.element, slot.viewportId);
      tools.group.addViewport(slot.viewportId, ENGINE_ID);
    }
    setPrimaryTool(tools.group, this.tool);
  }

  /** The patient's other studies for the picker, read once the viewports show their frames. */
  async listOtherStudies(url) {
    try {
      const { studies } = await getJson(url, 'application/json');
      const added = (studies ?? []).filter((s) => s?.id && s.seriesUrl && !this.studies.has(s.id));
      for (const study of added) this.studies.set(study.id, study);
      if (added.length) this.renderPicker();
    } catch (error) {
      this.picker.append(el('p', { className: 'pv-error' }, `Other studies: ${error.message}`));
    }
  }

  /**
   * The series listing of a study (a Promise, fetched once). `queued` listings (the picker's)
   * run LISTING_CONCURRENCY at a time: a patient with 200 studies must not send 200 requests
   * through the portal while the viewports wait for their frames.
   */
  listing(studyId, queued = false) {
    if (!this.listings.has(studyId)) {
      const fetchIt = () => studyListing(this.studies.get(studyId).seriesUrl);
      this.listings.set(studyId, queued ? this.inTurn(fetchIt) : fetchIt());
    }
    return this.listings.get(studyId);
  }

  inTurn(task) {
    return new Promise((resolve, reject) => {
      const run = () => {
        this.runningTasks += 1;
        task().then(resolve, reject).finally(() => {
          this.runningTasks -= 1;
          this.waiting.shift()?.();
        });
      };
      if (this.runningTasks < LISTING_CONCURRENCY) run(); else this.waiting.push(run);
    });
  }

  buildDom() {
    const button = (testid, label, action, title = label) => {
      const b = el('button', { type: 'button', testid, title }, label);
      b.addEventListener('click', action);
      return b;
    };
    this.buttons = {};
    const group = (...items) => el('div', { className: 'pv-group' }, ...items);
    const layouts = LAYOUTS.map((n) => (this.buttons[`layout-${n}`] = button(`layout-${n}`, `${n}`, () => this.setLayout(n), `${n} viewport${n > 1 ? 's' : ''}`)));
    const tools = Object.keys(PRIMARY_TOOLS).map((key) => (this.buttons[`tool-${key}`] = button(`tool-${key}`, { wl: 'W/L', pan: 'Pan', zoom: 'Zoom', length: 'Length' }[key], () => this.setTool(key))));
    const presets = Object.keys(PRESETS).map((name) => button(`preset-${name}`, name[0].toUpperCase() + name.slice(1), () => this.applyPreset(name)));
    this.syncButton = button('sync-toggle', 'Sync', () => this.setSyncEnabled(!this.sync.enabled), 'Synchronised scrolling');
    const toolbar = el('div', { className: 'pv-toolbar', role: 'toolbar' },
      group(el('span', { className: 'pv-label' }, 'Layout'), ...layouts), group(...tools),
      group(...presets), group(button('reset', 'Reset', () => this.reset()), this.syncButton));
    this.picker = el('nav', { className: 'pv-picker', testid: 'series-picker', 'aria-label': 'Series' });
    this.grid = el('div', { className: 'pv-grid' });
    for (const slot of this.slots) {
      slot.element = el('div', { className: 'pv-element' });
      slot.element.addEventListener('contextmenu', (e) => e.preventDefault());
      slot.overlay = el('div', { className: 'pv-overlay', testid: `overlay-${slot.index}` });
      slot.root = el('div', { className: 'pv-slot', testid: `viewport-${slot.index}`, tabindex: '0' }, slot.element, slot.overlay);
      slot.root.addEventListener('pointerdown', () => this.setActive(slot.index));
      slot.root.addEventListener('keydown', (e) => this.onKey(slot, e));
      slot.root.addEventListener('dragover', (e) => e.preventDefault());
      slot.root.addEventListener('drop', (e) => {
        e.preventDefault();
        const [studyId, seriesUid] = (e.dataTransfer.getData('text/plain') || '').split('|');
        if (studyId && seriesUid) this.loadSeries(slot.index, studyId, seriesUid).catch(() => {});
      });
      this.grid.append(slot.root);
    }
    this.root.replaceChildren(toolbar, el('div', { className: 'pv-body' }, this.picker, this.grid));
    this.root.classList.add('pv');
    this.setActive(0);
  }

  setActive(index) {
    this.active = index;
    for (const slot of this.slots) slot.root.classList.toggle('pv-active', slot.index === index);
  }

  shownSlots() {
    return this.slots.filter((s) => s.enabled && s.imageIds.length);
  }

  /** A frame that could not be fetched or decoded: say so on the viewports showing its series. */
  onLoadFailed({ imageId, error }) {
    for (const slot of this.slots) {
      const index = slot.imageIds.indexOf(imageId);
      if (index < 0) continue;
      slot.error = `image ${index + 1} could not be shown: ${error?.message ?? error}`;
      this.updateOverlay(slot);
    }
  }

  viewport(slot) {
    return slot.enabled ? this.engine.getViewport(slot.viewportId) : undefined;
  }

  /** Show 1, 2 or 4 viewports; a hidden viewport keeps its series and slice for later. */
  async setLayout(n, redisplay = true) {
    if (!LAYOUTS.includes(n)) throw new Error(`layout must be one of ${LAYOUTS.join(', ')}`);
    this.layout = n;
    this.grid.dataset.layout = String(n);
    for (const key of LAYOUTS) this.buttons[`layout-${key}`].setAttribute('aria-pressed', String(key === n));
    const shown = [];
    for (const slot of this.slots) {
      const visible = slot.index < n;
      slot.root.hidden = !visible;
      if (visible && !slot.enabled) shown.push(this.enable(slot));
      if (!visible && slot.enabled) this.disable(slot);
    }
    if (this.active >= n) this.setActive(0);
    this.engine.resize(true, true);
    if (redisplay) await Promise.all(shown.map((slot) => slot.imageIds.length && this.display(slot)));
  }

  enable(slot) {
    this.engine.enableElement({
      viewportId: slot.viewportId, type: Enums.ViewportType.STACK, element: slot.element,
      defaultOptions: { background: [0, 0, 0] },
    });
    this.tools?.group.addViewport(slot.viewportId, ENGINE_ID);
    slot.enabled = true;
    slot.onChange = () => this.updateOverlay(slot);
    for (const type of [Enums.Events.STACK_NEW_IMAGE, Enums.Events.VOI_MODIFIED, Enums.Events.IMAGE_RENDERED]) {
      slot.element.addEventListener(type, slot.onChange);
    }
    this.sync.watch(slot.element);
    this.updateOverlay(slot);
    return slot;
  }

  disable(slot) {
    const viewport = this.viewport(slot);
    if (slot.imageIds.length) slot.imageIndex = viewport.getCurrentImageIdIndex();
    for (const type of [Enums.Events.STACK_NEW_IMAGE, Enums.Events.VOI_MODIFIED, Enums.Events.IMAGE_RENDERED]) {
      slot.element.removeEventListener(type, slot.onChange);
    }
    this.sync.unwatch(slot.element);
    this.tools?.group.removeViewports(ENGINE_ID, slot.viewportId);
    this.engine.disableElement(slot.viewportId);
    slot.enabled = false;
  }

  /** Put a series of any of the patient's studies into viewport `index` (0-based). */
  async loadSeries(index, studyId, seriesUid) {
    const slot = this.slots[index];
    if (!slot) throw new Error(`no viewport ${index}`);
    slot.error = null;
    try {
      const listing = await this.listing(studyId);
      const series = listing.series.find((s) => s.seriesInstanceUid === seriesUid);
      if (!series) throw new Error(`series ${seriesUid} is not in study ${studyId}`);
      slot.imageIds = await seriesImageIds(listing.wadoRoot, listing.study.studyInstanceUid, seriesUid);
      Object.assign(slot, { studyId, series, listing, imageIndex: 0 });
      this.markPicked();
      if (slot.enabled) await this.display(slot);
    } catch (error) {
      slot.error = error.message;
      this.updateOverlay(slot);
      throw error;
    }
  }

  async display(slot) {
    const viewport = this.viewport(slot);
    const rendered = once(slot.element, Enums.Events.IMAGE_RENDERED);
    await viewport.setStack(slot.imageIds, Math.min(slot.imageIndex, slot.imageIds.length - 1));
    viewport.render();
    await rendered;
    this.updateOverlay(slot);
  }

  updateOverlay(slot) {
    const study = slot.listing?.study;
    const viewport = slot.enabled && slot.imageIds.length ? this.viewport(slot) : null;
    const lines = [];
    if (slot.error) lines.push(['pv-error', slot.error]);
    if (!study) {
      if (!slot.error) lines.push(['pv-hint', 'Pick a series']);
    } else {
      const { windowWidth, windowCenter } = this.windowOf(viewport);
      const index = viewport ? viewport.getCurrentImageIdIndex() : slot.imageIndex;
      lines.push(['pv-site', study.site ?? ''],
        ['pv-date', [study.date, slot.series.modality ?? study.modality].filter(Boolean).join(' · ')],
        ['pv-desc', study.description ?? ''],
        ['pv-series', slot.series.description ?? ''],
        ['pv-slice', `${index + 1}/${slot.imageIds.length}`],
        ['pv-wl', Number.isFinite(windowWidth) ? `W ${Math.round(windowWidth)} L ${Math.round(windowCenter)}` : '']);
    }
    slot.overlay.replaceChildren(...lines.map(([className, text]) => el('div', { className }, text)));
  }

  windowOf(viewport) {
    const range = viewport?.getProperties()?.voiRange;
    if (!range) return { windowWidth: NaN, windowCenter: NaN };
    return utilities.windowLevel.toWindowLevel(range.lower, range.upper);
  }

  onKey(slot, event) {
    const viewport = this.viewport(slot);
    if (!viewport || !slot.imageIds.length) return;
    const last = slot.imageIds.length - 1;
    let target;
    if (event.key in KEY_STEPS) target = viewport.getCurrentImageIdIndex() + KEY_STEPS[event.key];
    else if (event.key === 'Home') target = 0;
    else if (event.key === 'End') target = last;
    else return;
    event.preventDefault();
    viewport.setImageIdIndex(Math.max(0, Math.min(last, target)));
  }

  /** Scroll viewport `index` (0-based) by `delta` slices; resolves when it and its followers show their new slice. */
  async scroll(index, delta) {
    const slot = this.slots[index];
    const viewport = slot && this.viewport(slot);
    if (!viewport || !slot.imageIds.length) throw new Error(`viewport ${index} shows no series`);
    const target = Math.max(0, Math.min(slot.imageIds.length - 1, viewport.getCurrentImageIdIndex() + delta));
    await viewport.setImageIdIndex(target);
    await this.sync.settled();
    await nextFrame();
    await nextFrame();
  }

  setTool(key) {
    if (!PRIMARY_TOOLS[key]) throw new Error(`unknown tool ${key}`);
    if (this.tools) setPrimaryTool(this.tools.group, key);
    this.tool = key;
    for (const name of Object.keys(PRIMARY_TOOLS)) this.buttons[`tool-${name}`].setAttribute('aria-pressed', String(name === key));
  }

  /** Apply a window preset to the active viewport. */
  applyPreset(name, index = this.active) {
    const preset = PRESETS[name];
    if (!preset) throw new Error(`unknown preset ${name}`);
    const viewport = this.viewport(this.slots[index]);
    if (!viewport || !this.slots[index].imageIds.length) return;
    viewport.setProperties({ voiRange: utilities.windowLevel.toLowHighRange(preset.width, preset.center) });
    viewport.render();
    this.updateOverlay(this.slots[index]);
  }

  /** Back to the series' own window, fit to the viewport, no pan. */
  reset(index = this.active) {
    const viewport = this.viewport(this.slots[index]);
    if (!viewport || !this.slots[index].imageIds.length) return;
    viewport.resetProperties();
    viewport.resetCamera();
    viewport.render();
    this.updateOverlay(this.slots[index]);
  }

  setSyncEnabled(on) {
    this.sync.enabled = on;
    this.syncButton.setAttribute('aria-pressed', String(on));
  }

  /** Length annotations drawn on this viewport's series, with their lengths. */
  measurements(slot) {
    if (!this.tools || !slot.enabled || !slot.imageIds.length) return [];
    const ids = new Set(slot.imageIds);
    return (this.tools.annotation.state.getAnnotations(PRIMARY_TOOLS.length, slot.element) ?? [])
      .filter((a) => ids.has(a.metadata?.referencedImageId))
      .map((a) => {
        const stats = Object.values(a.data?.cachedStats ?? {})[0] ?? {};
        return { length: stats.length ?? null, unit: stats.unit ?? null };
      });
  }

  /** What the viewer shows, for tests and the portal. */
  state() {
    const viewports = this.slots.filter((s) => s.index < this.layout).map((slot) => {
      const viewport = slot.imageIds.length ? this.viewport(slot) : null;
      const { windowWidth, windowCenter } = this.windowOf(viewport);
      const imageIndex = viewport ? viewport.getCurrentImageIdIndex() : null;
      return {
        index: slot.index,
        studyId: slot.studyId,
        seriesInstanceUid: slot.series?.seriesInstanceUid ?? null,
        imageIndex,
        imageCount: slot.imageIds.length,
        imagePositionPatient: viewport ? imagePosition(viewport.getCurrentImageId()) : null,
        windowCenter: Number.isFinite(windowCenter) ? windowCenter : null,
        windowWidth: Number.isFinite(windowWidth) ? windowWidth : null,
        nonBlank: viewport ? canvasNonBlank(viewport.getCanvas()) : false,
        measurements: this.measurements(slot),
        error: slot.error,
      };
    });
    return { layout: this.layout, sync: this.sync.enabled, tool: this.tool, active: this.active, viewports };
  }

  /** The picker: every study of the patient (newest first), its series with thumbnails. */
  renderPicker() {
    const studies = [...this.studies.values()].sort((a, b) => String(b.date).localeCompare(String(a.date)));
    const thumbnails = [];
    this.picker.replaceChildren(...studies.map((study) => {
      const list = el('ul', { className: 'pv-series-list' }, el('li', { className: 'pv-hint' }, 'Loading…'));
      const role = study.id === this.config.current ? 'current' : study.id === this.config.prior ? 'prior' : '';
      const header = el('div', { className: 'pv-study-header' },
        el('div', { className: 'pv-site' }, study.site ?? ''),
        el('div', {}, `${study.date ?? ''} · ${study.modality ?? ''}${role ? ` · ${role}` : ''}`),
        el('div', { className: 'pv-desc' }, study.description ?? ''));
      this.listing(study.id, true).then((listing) => {
        list.replaceChildren(...listing.series.map((series) => {
          const thumb = el('div', { className: 'pv-thumb pv-thumb-placeholder', testid: 'series-thumb' }, series.modality ?? '');
          thumbnails.push([thumb, listing, series]);
          const item = el('li', {
            className: 'pv-series', testid: 'series-item', draggable: 'true', tabindex: '0',
            'data-study-id': study.id, 'data-series-uid': series.seriesInstanceUid,
            title: 'Show in the active viewport (or drag onto a viewport)',
          }, thumb, el('div', { className: 'pv-series-text' },
            el('div', {}, `S${series.seriesNumber ?? '?'} ${series.description ?? ''}`),
            el('div', { className: 'pv-count' }, `${series.numberOfInstances ?? '?'} images`)));
          const pick = () => this.loadSeries(this.active, study.id, series.seriesInstanceUid).catch(() => {});
          item.addEventListener('click', pick);
          item.addEventListener('keydown', (e) => e.key === 'Enter' && pick());
          item.addEventListener('dragstart', (e) => e.dataTransfer.setData('text/plain', `${study.id}|${series.seriesInstanceUid}`));
          return item;
        }));
        this.markPicked();
        this.loadThumbnails(thumbnails);
      }, (error) => list.replaceChildren(el('li', { className: 'pv-error' }, error.message)));
      return el('section', { className: 'pv-study', 'data-study-id': study.id }, header, list);
    }));
  }

  /** Fetch thumbnails one at a time, so they never compete with the viewports' frames. */
  async loadThumbnails(queue) {
    if (this.thumbnailsRunning) return;
    this.thumbnailsRunning = true;
    while (queue.length) {
      const [thumb, listing, series] = queue.shift();
      try {
        if (!this.thumbnails.has(series.seriesInstanceUid)) {
          this.thumbnails.set(series.seriesInstanceUid,
            thumbnailUrl(listing.wadoRoot, listing.study.studyInstanceUid, series));
        }
        const url = await this.thumbnails.get(series.seriesInstanceUid);
        thumb.replaceChildren(el('img', { src: url, alt: series.description ?? 'series' }));
        thumb.classList.remove('pv-thumb-placeholder');
      } catch {
        thumb.title = 'No preview';
      }
    }
    this.thumbnailsRunning = false;
  }

  markPicked() {
    const shown = new Set(this.slots.filter((s) => s.series).map((s) => s.series.seriesInstanceUid));
    for (const item of this.picker.querySelectorAll('.pv-series')) {
      item.classList.toggle('pv-picked', shown.has(item.dataset.seriesUid));
    }
  }
}
