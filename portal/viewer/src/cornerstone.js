// Cornerstone3D set-up: the renderer, the DICOM loader (decoding in its same-origin module
// worker) and one tool group shared by every viewport.
import {
  getRenderingCapabilities, init as initCore, RenderingEngine, setUseCPURendering,
} from '@cornerstonejs/core';
import { init as initLoader } from '@cornerstonejs/dicom-image-loader';
import {
  init as initTools, addTool, ToolGroupManager, Enums as ToolEnums,
  LengthTool, PanTool, StackScrollTool, WindowLevelTool, ZoomTool,
} from '@cornerstonejs/tools';

const { MouseBindings } = ToolEnums;

/** The primary-button tools the toolbar offers, by their toolbar key. */
export const PRIMARY_TOOLS = {
  wl: WindowLevelTool.toolName,
  pan: PanTool.toolName,
  zoom: ZoomTool.toolName,
  length: LengthTool.toolName,
};

export const ENGINE_ID = 'partage-engine';
const TOOL_GROUP_ID = 'partage-tools';

/** Initialise Cornerstone once; returns the rendering engine and the tool group. */
export async function startCornerstone() {
  initCore();
  // a reading station without a GPU: Cornerstone's own CPU path draws a 2D stack faster than
  // WebGL emulated in software (SwiftShader, llvmpipe), which it only warns about
  if (getRenderingCapabilities().softwareRasterizer) setUseCPURendering(true, false);
  initLoader({ maxWebWorkers: Math.max(1, Math.min(2, navigator.hardwareConcurrency || 1)) });
  initTools();
  for (const tool of [WindowLevelTool, PanTool, ZoomTool, LengthTool, StackScrollTool]) addTool(tool);
  const engine = new RenderingEngine(ENGINE_ID);
  const tools = ToolGroupManager.createToolGroup(TOOL_GROUP_ID);
  for (const tool of [WindowLevelTool, PanTool, ZoomTool, LengthTool, StackScrollTool]) {
    tools.addTool(tool.toolName);
  }
  // fixed bindings: wheel scrolls, middle button pans, right button zooms; the left button
  // belongs to the toolbar's current tool (setPrimaryTool)
  tools.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] });
  tools.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
  tools.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
  return { engine, tools };
}

/** Give the left mouse button to one tool (others keep their fixed bindings). */
export function setPrimaryTool(tools, key) {
  const name = PRIMARY_TOOLS[key];
  if (!name) throw new Error(`unknown tool ${key}`);
  for (const other of Object.values(PRIMARY_TOOLS)) {
    if (other !== name) tools.setToolPassive(other);
  }
  tools.setToolActive(name, { bindings: [{ mouseButton: MouseBindings.Primary }] });
}
