// The viewer's configuration, written by the portal into the page as
// <div id="partage-viewer" data-config='{"studies": [...], "studiesUrl": url?, "current": id,
// "prior": id|null, "layout": 1|2|4}'>: `studies` holds at least the ones on screen; the
// others of the patient, when the page does not list them, are read from `studiesUrl`.

export const LAYOUTS = [1, 2, 4];

/** Parse and check the page's configuration; throws an Error naming what is wrong. */
export function readConfig(root) {
  let config;
  try {
    config = JSON.parse(root.dataset.config ?? '');
  } catch (error) {
    throw new Error(`data-config is not JSON: ${error.message}`);
  }
  const studies = config?.studies;
  if (!Array.isArray(studies) || !studies.length) throw new Error('data-config: no studies');
  for (const study of studies) {
    if (typeof study?.id !== 'string' || typeof study.seriesUrl !== 'string') {
      throw new Error('data-config: every study needs an id and a seriesUrl');
    }
  }
  const ids = new Set(studies.map((s) => s.id));
  if (!ids.has(config.current)) throw new Error(`data-config: current study ${config.current} is not listed`);
  const prior = config.prior ?? null;
  if (prior !== null && !ids.has(prior)) throw new Error(`data-config: prior study ${prior} is not listed`);
  const layout = config.layout ?? (prior ? 2 : 1);
  if (!LAYOUTS.includes(layout)) throw new Error(`data-config: layout must be one of ${LAYOUTS.join(', ')}`);
  const studiesUrl = config.studiesUrl ?? null;
  if (studiesUrl !== null && typeof studiesUrl !== 'string') throw new Error('data-config: studiesUrl must be a URL');
  return { studies, studiesUrl, current: config.current, prior, layout };
}
