// Cornerstone3D set-up in two steps, so the first frames do not wait for the tools: rendering
// (core, the DICOM loader decoding in its same-origin module worker, the engine) first, then the
// tools (@cornerstonejs/tools, loaded as a chunk of its own) with one tool group for every
// viewport.
import {
  getRenderingCapabilities, init as initCore, RenderingEngine, setUseCPURendering,
} from '@cornerstonejs/core';
import { init as initLoader } from '@cornerstonejs/dicom-image-loader';

/** The primary-button tools the toolbar offers, by their toolbar key (Cornerstone tool names). */
export const PRIMARY_TOOLS = { wl: 'WindowLevel', pan: 'Pan', zoom: 'Zoom', length: 'Length' };

export const ENGINE_ID = 'partage-engine';
const TOOL_GROUP_ID = 'partage-tools';

/** Initialise rendering once; returns the rendering engine. */
export function startRendering() {
  initCore();
  // a reading station without a GPU: Cornerstone's own CPU path draws a 2D stack faster than
  // WebGL emulated in software (SwiftShader, llvmpipe), which it only warns about
  if (getRenderingCapabilities().softwareRasterizer) setUseCPURendering(true, false);
  initLoader({ maxWebWorkers: Math.max(1, Math.min(2, navigator.hardwareConcurrency || 1)) });
  return new RenderingEngine(ENGINE_ID);
}

/**
 * Load and initialise the tools; returns {group, annotation, adopt} (the tool group, the
 * annotation state where length measurements live, and `adopt(element, viewportId)`, which
 * gives the tools an element enabled before they were loaded: they only hear of the ones
 * enabled after their init).
 */
export async function startTools() {
  const {
    init, addTool, annotation, store, ToolGroupManager, Enums,
    LengthTool, PanTool, StackScrollTool, WindowLevelTool, ZoomTool,
  } = await import('@cornerstonejs/tools');
  const primary = [WindowLevelTool, PanTool, ZoomTool, LengthTool];
  const names = primary.map((tool) => tool.toolName);
  if (names.join() !== Object.values(PRIMARY_TOOLS).join()) {
    throw new Error(`Cornerstone tool names changed: ${names.join(', ')}`);
  }
  init();
  const group = ToolGroupManager.createToolGroup(TOOL_GROUP_ID);
  for (const tool of [...primary, StackScrollTool]) {
    addTool(tool);
    group.addTool(tool.toolName);
  }
  // fixed bindings: wheel scrolls, middle button pans, right button zooms; the left button
  // belongs to the toolbar's current tool (setPrimaryTool)
  const { MouseBindings } = Enums;
  group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] });
  group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
  group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
  group.primaryBinding = [{ mouseButton: MouseBindings.Primary }];
  const adopt = (element, viewportId) => store.addEnabledElement({ detail: { element, viewportId } });
  return { group, annotation, adopt };
}

/** Give the left mouse button to one tool (others keep their fixed bindings). */
export function setPrimaryTool(group, key) {
  const name = PRIMARY_TOOLS[key];
  if (!name) throw new Error(`unknown tool ${key}`);
  for (const other of Object.values(PRIMARY_TOOLS)) {
    if (other !== name) group.setToolPassive(other);
  }
  group.setToolActive(name, { bindings: group.primaryBinding });
}
