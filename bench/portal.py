"""``partage bench portal``: what a radiologist waits for, measured in headless Chromium against
the whole region on loopback (development IdP, registry, repository, three sites — an Orthanc
PACS and a gateway each — and the portal), for one patient with 200 studies spread over the three
sites:

- ``timeline_s``: from submitting the IdP's login form (reached from a deep link to the patient)
  to the patient's timeline rendered;
- ``first_prior_frame_s``: from clicking "compare" to the first frame of the prior, held by
  another site's PACS (gateway cache cold), rendered in the viewer.

Targets: 1 s each. The browser half is ``tests/browser/portal_flow.js`` (the same walk the
end-to-end test asserts on).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from partage.demo_sites import SITES, DemoPatient, DemoSite
from partage.region import Region, ports_for
from partage.studies import StudySpec

ROOT = Path(__file__).resolve().parents[1]
FLOW = ROOT / "tests" / "browser" / "portal_flow.js"
CHROMIUM = Path(os.environ.get("PARTAGE_CHROMIUM", "/usr/bin/chromium"))
#: where the run leaves its screenshot of the comparison
SCREENSHOTS = Path(tempfile.gettempdir()) / "partage-bench-portal"
TARGET_S = 1.0
SITES_3 = (*SITES, DemoSite("c", "1.2.250.1.999.1.3", "Clinique de l'Est", "dicomweb"))
PATIENT = DemoPatient("2801205123456", "MARTIN", "Claire", "19801205", "F",
                      (("a", "IPP-A-1001"), ("b", "CIS-30017"), ("c", "CE-5521")))
#: the history's small studies cycle through these (modality, body part, description)
KINDS = (("CR", "CHEST", "RADIO THORAX"), ("US", "ABDOMEN", "ECHO ABDOMINALE"),
         ("MR", "KNEE", "IRM GENOU"), ("CT", "HEAD", "CT CRANE"), ("MG", "BREAST", "MAMMOGRAPHIE"),
         ("MR", "LSPINE", "IRM RACHIS LOMBAIRE"), ("CT", "ABDOMEN", "CT ABDOMEN"))


def walk(portal: str, outdir: Path, *, ins: str, login: str, current_site: str,
         prior_site: str, modality: str = "", patient_login: str = "",
         password: str = "demo", timeout: float = 240) -> dict:
    """Run ``portal_flow.js`` in headless Chromium; what it saw (with ``error`` when a step
    failed)."""
    config = {"portal": portal, "outdir": str(outdir), "ins": ins, "login": login,
              "password": password, "patientLogin": patient_login,
              "currentSite": current_site, "priorSite": prior_site, "modality": modality}
    run = subprocess.run(["node", str(FLOW), json.dumps(config)], cwd=FLOW.parent,
                         capture_output=True, text=True, timeout=timeout)
    lines = run.stdout.strip().splitlines()
    if run.returncode not in (0, 1) or not lines:
        raise RuntimeError(f"portal_flow.js exited {run.returncode}: {run.stderr[-2000:]}")
    return json.loads(lines[-1])


@dataclass(frozen=True)
class Config:
    studies: int = 200
    slices: int = 60

    @classmethod
    def for_run(cls, quick: bool) -> Config:
        return cls(studies=24, slices=30) if quick else cls()


def history(config: Config, today: date) -> dict[str, list[StudySpec]]:
    """The patient's studies by site: this year's chest CT at site A (the current study), a
    chest CT two years ago at site B (the most relevant prior), and small studies of other
    kinds over twenty years at every site."""
    def at(site: DemoSite, **values: object) -> StudySpec:
        return StudySpec(patient=PATIENT.at(site), institution=site.name, **values)  # type: ignore[arg-type]

    site_a, site_b, _ = SITES_3
    specs: dict[str, list[StudySpec]] = {site.key: [] for site in SITES_3}
    specs["a"].append(at(site_a, modality="CT", body_part="CHEST", description="CT THORAX",
                         study_date=today.strftime("%Y%m%d"), accession_number="BENCH-CUR",
                         slices=config.slices, rows=512, columns=512))
    specs["b"].append(at(site_b, modality="CT", body_part="CHEST", description="CT THORAX",
                         study_date=(today - timedelta(days=730)).strftime("%Y%m%d"),
                         accession_number="BENCH-PRIOR", slices=config.slices, rows=512,
                         columns=512))
    for i in range(config.studies - 2):
        site = SITES_3[i % len(SITES_3)]
        modality, part, description = KINDS[i % len(KINDS)]
        day = today - timedelta(days=30 + i * (7000 // config.studies))
        specs[site.key].append(at(site, modality=modality, body_part=part,
                                  description=description, study_date=day.strftime("%Y%m%d"),
                                  accession_number=f"BENCH-{i:04d}", slices=2))
    return specs


def run(config: Config) -> dict:
    if not CHROMIUM.exists():
        raise RuntimeError(f"no Chromium at {CHROMIUM} (Debian package chromium)")
    today = date.today()
    specs = history(config, today)
    with tempfile.TemporaryDirectory(prefix="partage-bench-portal-") as tmp, \
            Region(Path(tmp), ports_for(SITES_3), SITES_3) as region:
        region.feed([PATIENT])
        started = time.perf_counter()
        for site in SITES_3:
            region.start_site(site, specs[site.key], sweep_days=7300)
        for site in SITES_3:
            region.wait_published(site.key, len(specs[site.key]), timeout=600)
        published_s = time.perf_counter() - started
        region.start_portal()
        SCREENSHOTS.mkdir(exist_ok=True)
        seen = walk(region.portal_url, SCREENSHOTS, ins=PATIENT.ins, login="dr.martin",
                    current_site=SITES_3[0].name, prior_site=SITES_3[1].name, modality="CT")
    if "error" in seen:
        raise RuntimeError(f"the browser walk failed: {seen['error']}")
    timeline_s = seen["timelineMs"] / 1000
    prior_s = seen["firstPriorFrameMs"] / 1000
    return {
        "timeline_s": round(timeline_s, 3),
        "first_prior_frame_s": round(prior_s, 3),
        "studies": sum(len(s) for s in specs.values()),
        "studies_on_timeline": len(seen["marks"]),
        "sites": len(SITES_3),
        "prior_site": seen["bestPrior"]["site"],
        "load_and_publish_s": round(published_s, 1),
        "targets": {"timeline_s": TARGET_S, "first_prior_frame_s": TARGET_S},
        "targets_met": timeline_s <= TARGET_S and prior_s <= TARGET_S,
        # the comparison page's milestones, ms from its navigation start (viewer user timing)
        "compare_marks_ms": seen["compareMarks"],
        "screenshot": seen["screenshot"],
    }


def table(result: dict) -> str:
    return "\n".join([
        f"portal, one patient with {result['studies']} studies over {result['sites']} sites "
        f"({result['studies_on_timeline']} on the timeline; loaded and published in "
        f"{result['load_and_publish_s']} s)",
        f"  sign-in → timeline rendered     {result['timeline_s']:.3f} s  (target ≤ {TARGET_S} s)",
        f"  compare → prior's first frame   {result['first_prior_frame_s']:.3f} s  "
        f"(target ≤ {TARGET_S} s; prior at {result['prior_site']})",
        "  compare page, ms from its navigation: " + ", ".join(
            f"{name.removeprefix('partage:')} {ms}" for name, ms in result["compare_marks_ms"].items()),
        f"  targets met: {result['targets_met']}; screenshot {result['screenshot']}",
    ])
