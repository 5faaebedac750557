"""The comparison viewer in headless Chromium: a current CT from site A beside a prior CT from
site B (different frame of reference, slice spacing and origin), pixels fetched over WADO-RS
from two real Orthanc PACS through a same-origin proxy, the way the portal serves it.

The page, the series listings and the proxy come from a small stand-in for the portal (the
contract of ``portal/viewer/README.md``); the viewer bundle is the real ``dist/`` build and the
browser is driven by the node scripts of ``tests/browser/`` (playwright-core)."""

from __future__ import annotations

import html
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from partage.orthanc import DCMTK_BIN, Orthanc, OrthancConfig
from partage.serve import background, free_port
from partage.studies import Patient, StudySpec, build_study, part10

ROOT = Path(__file__).resolve().parents[2]
VIEWER = ROOT / "portal" / "viewer"
BROWSER = ROOT / "tests" / "browser"
CHROMIUM = Path(os.environ.get("PARTAGE_CHROMIUM", "/usr/bin/chromium"))
#: the policy the portal sends with every answer (the decode worker runs under its script's
#: own policy): the WebAssembly codecs need 'wasm-unsafe-eval'
CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
       "img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; connect-src 'self'")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (Debian package chromium)"
)

PATIENT = Patient("2801205123456", "MARTIN^Claire", "19801205", "F")
PRIOR_SPACING = 5.0


@dataclass
class Site:
    study_id: str
    name: str
    orthanc: Orthanc
    spec: StudySpec


def newest_mtime(*paths: Path) -> float:
    files = [f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()]
    return max(f.stat().st_mtime for f in files)


def npm(folder: Path, *args: str) -> None:
    run = subprocess.run(["npm", *args, "--no-audit", "--no-fund", "--loglevel=error"],
                         cwd=folder, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"npm {' '.join(args)} in {folder} failed:\n{run.stdout}{run.stderr}"


@pytest.fixture(scope="module")
def viewer_dist() -> Path:
    """The viewer bundle, rebuilt when older than its sources or lock (as ``./dev test`` does)."""
    for folder in (VIEWER, BROWSER):
        if not (folder / "node_modules").is_dir():
            npm(folder, "ci")
    bundle = VIEWER / "dist" / "viewer.js"
    sources = (VIEWER / "src", VIEWER / "package-lock.json", VIEWER / "vite.config.js")
    if not bundle.exists() or bundle.stat().st_mtime < newest_mtime(*sources):
        npm(VIEWER, "run", "build")
    return VIEWER / "dist"


def store_prior_geometry(datasets: list) -> None:
    """Re-slice the prior: 5 mm apart from z = +40 down, so positions and spacing differ."""
    for i, ds in enumerate(datasets):
        z = 40.0 - PRIOR_SPACING * i
        ds.ImagePositionPatient = [-150.0, -150.0, z]
        ds.SliceLocation = z
        ds.SliceThickness = str(PRIOR_SPACING)


def jpeg_ls(dicom: bytes, work: Path) -> bytes:
    """The instance JPEG-LS lossless (dcmtk's ``dcmcjpls``), as sites that compress keep it: the
    viewer must then decode it with its WebAssembly codec under the page's CSP."""
    source, target = work / "in.dcm", work / "out.dcm"
    source.write_bytes(dicom)
    subprocess.run([str(DCMTK_BIN / "dcmcjpls"), str(source), str(target)], check=True,
                   capture_output=True, timeout=30)
    return target.read_bytes()


@pytest.fixture
def sites(orthanc: Orthanc, tmp_path: Path) -> Iterator[list[Site]]:
    """Site A's PACS holds the current CT (40 slices, 2.5 mm, uncompressed); site B's the prior
    (24 slices, 5 mm, JPEG-LS)."""
    config = OrthancConfig("site-b", "PACS_B", free_port(), free_port(), tmp_path / "site-b")
    with Orthanc(config) as site_b:
        current = StudySpec(PATIENT, description="CT THORAX", study_date="20260301", slices=40,
                            rows=256, columns=256, institution="CHU Nord", accession_number="A1")
        prior = StudySpec(PATIENT, description="CT THORAX", study_date="20240115", slices=24,
                          rows=256, columns=256, institution="Centre d'imagerie Sud",
                          accession_number="B1")
        prior_datasets = build_study(prior)
        store_prior_geometry(prior_datasets)
        for ds in build_study(current):
            orthanc.upload(part10(ds))
        for ds in prior_datasets:
            site_b.upload(jpeg_ls(part10(ds), tmp_path))
        yield [Site("cur", "CHU Nord", orthanc, current),
               Site("pri", "Centre d'imagerie Sud", site_b, prior)]


def qido_value(item: dict, tag: str) -> object:
    values = item.get(tag, {}).get("Value") or [None]
    return values[0]


def portal_stand_in(sites: list[Site], dist: Path) -> FastAPI:
    """What the portal serves around the viewer: the page, seriesUrl listings, the proxy."""
    by_id = {site.study_id: site for site in sites}
    app = FastAPI()
    client = httpx.AsyncClient(timeout=30)

    def entry(site: Site) -> dict:
        spec = site.spec
        date = f"{spec.study_date[:4]}-{spec.study_date[4:6]}-{spec.study_date[6:]}"
        return {"id": site.study_id, "site": site.name, "date": date, "modality": spec.modality,
                "description": spec.description, "seriesUrl": f"/api/studies/{site.study_id}/series"}

    @app.get("/view")
    def page(prior: str = "pri") -> HTMLResponse:
        """``?prior=gone`` lists a study the portal then fails to describe (HTTP 404)."""
        studies = [entry(s) for s in sites]
        if prior not in by_id:
            studies.append({**studies[-1], "id": prior, "seriesUrl": f"/api/studies/{prior}/series"})
        config = {"studies": studies, "current": "cur", "prior": prior, "layout": 2}
        body = ("<!doctype html><html><head><meta charset='utf-8'><title>Viewer</title>"
                "<link rel='icon' href='data:,'>"
                "<link rel='stylesheet' href='/viewer/viewer.css'>"
                "<style>html,body{margin:0;height:100%}</style></head><body>"
                f"<div id='partage-viewer' style='height:100vh' "
                f"data-config='{html.escape(json.dumps(config), quote=True)}'></div>"
                "<script type='module' src='/viewer/viewer.js'></script></body></html>")
        return HTMLResponse(body)

    @app.get("/api/studies/{study_id}/series")
    async def series(study_id: str) -> JSONResponse:
        site = by_id.get(study_id)
        if site is None:
            return JSONResponse({"title": "no such study", "status": 404}, status_code=404,
                                media_type="application/problem+json")
        uid = site.spec.study_instance_uid
        answer = await client.get(f"{site.orthanc.dicomweb}/studies/{uid}/series")
        answer.raise_for_status()
        return JSONResponse({
            "study": {**{k: v for k, v in entry(site).items() if k != "seriesUrl"},
                      "studyInstanceUid": uid, "accession": site.spec.accession_number},
            "wadoRoot": f"/dicomweb/{study_id}",
            "series": [{
                "seriesInstanceUid": qido_value(item, "0020000E"),
                "modality": qido_value(item, "00080060"),
                "description": qido_value(item, "0008103E"),
                "seriesNumber": qido_value(item, "00200011"),
                "numberOfInstances": qido_value(item, "00201209"),
            } for item in answer.json()],
        })

    @app.get("/dicomweb/{study_id}/{path:path}")
    async def proxy(study_id: str, path: str, request: Request) -> Response:
        site = by_id[study_id]
        accept = request.headers.get("accept", "*/*")
        answer = await client.get(f"{site.orthanc.dicomweb}/{path}", headers={"Accept": accept})
        return Response(answer.content, status_code=answer.status_code,
                        media_type=answer.headers.get("content-type"))

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        """Like the portal: the policy on every answer, so the decode worker runs under it too."""
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    app.mount("/viewer", StaticFiles(directory=dist), name="viewer")
    return app


def run_script(script: str, *args: str) -> dict:
    """Run a node script of tests/browser; its last stdout line is its JSON result."""
    run = subprocess.run(["node", str(BROWSER / script), *args], capture_output=True, text=True,
                         timeout=240)
    assert run.stdout, f"no output from {script}: {run.stderr}"
    result: dict = json.loads(run.stdout.strip().splitlines()[-1])
    assert "error" not in result, f"{result['error']}\nproblems: {result['problems']}"
    return result


def test_compare_current_with_prior_from_another_site(
    sites: list[Site], viewer_dist: Path, tmp_path: Path
) -> None:
    with background(portal_stand_in(sites, viewer_dist)) as server:
        result = run_script("check_viewer.js", f"{server.url}/view", str(tmp_path))
    print(f"screenshot: {result['screenshot']} (ready {result['readyMs']} ms, "
          f"total {result['totalMs']} ms)")
    steps = result["steps"]

    initial = steps["initial"]
    current, prior = initial["viewports"]
    assert (current["studyId"], prior["studyId"]) == ("cur", "pri")
    assert (current["imageCount"], prior["imageCount"]) == (40, 24)
    assert current["nonBlank"] and prior["nonBlank"]
    assert initial["sync"] is True and initial["layout"] == 2
    # head first: the first slice is the highest one (z = 0 for the current, +40 for the prior)
    assert current["imagePositionPatient"][2] == 0.0 and prior["imagePositionPatient"][2] == 40.0
    assert (current["windowCenter"], current["windowWidth"]) == (40, 400)

    # 10 slices of 2.5 mm down the current = 25 mm = 5 slices of 5 mm down the prior, although
    # the two frames of reference place them at different z
    synced = steps["syncedScroll"]["viewports"]
    assert synced[0]["imageIndex"] == 10 and synced[0]["imagePositionPatient"][2] == -25.0
    assert synced[1]["imageIndex"] == 5 and synced[1]["imagePositionPatient"][2] == 15.0
    assert synced[0]["nonBlank"] and synced[1]["nonBlank"]

    unsynced = steps["unsyncedScroll"]["viewports"]
    assert unsynced[0]["imageIndex"] == 14 and unsynced[1]["imageIndex"] == 5

    # and the other way: the prior's 4th slice (15 mm down) brings the current to its 7th
    reverse = steps["reverseSync"]["viewports"]
    assert (reverse[1]["imageIndex"], reverse[0]["imageIndex"]) == (3, 6)

    lung = steps["lung"]["viewports"][0]
    assert (lung["windowCenter"], lung["windowWidth"]) == (-600, 1500)
    assert steps["lung"]["viewports"][1]["windowWidth"] == 400  # the preset went to one viewport

    # a horizontal drag over 40 % of a portrait viewport spans 40 % of the 320 mm field of view
    (measurement,) = steps["length"]["viewports"][0]["measurements"]
    assert measurement["unit"] == "mm"
    assert measurement["length"] == pytest.approx(0.4 * 320, rel=0.03)
    assert steps["length"]["viewports"][1]["measurements"] == []

    assert steps["key"]["viewports"][1]["imageIndex"] == steps["key"]["before"] + 1
    assert steps["wheel"]["viewports"][1]["imageIndex"] != steps["wheel"]["before"]
    assert [v["studyId"] for v in steps["layout4"]["viewports"]] == ["cur", "pri", None, None]
    picked = steps["picked"]["viewports"][2]  # the prior's series, picked for viewport 3
    assert (picked["seriesInstanceUid"], picked["imageCount"]) == (prior["seriesInstanceUid"], 24)
    back = steps["layout2"]["viewports"]
    assert [v["imageIndex"] for v in back] == [
        v["imageIndex"] for v in steps["wheel"]["viewports"]]
    assert result["seriesItems"] == 2
    assert "CHU Nord" in result["overlay"] and "2026-03-01" in result["overlay"]
    assert "7/40" in result["overlay"] and "W 1500 L -600" in result["overlay"]
    assert Path(result["screenshot"]).stat().st_size > 10_000
    assert result["problems"] == []


def test_prior_that_cannot_be_listed_leaves_the_current_shown(
    sites: list[Site], viewer_dist: Path
) -> None:
    with background(portal_stand_in(sites, viewer_dist)) as server:
        result = run_script("check_viewer_failure.js", f"{server.url}/view?prior=gone")
    assert result["ready"]["ok"] is False
    assert "viewport 2" in result["ready"]["error"] and "HTTP 404" in result["ready"]["error"]
    current, prior = result["state"]["viewports"]
    assert current["studyId"] == "cur" and current["nonBlank"] and current["error"] is None
    assert prior["studyId"] is None and not prior["nonBlank"] and "HTTP 404" in prior["error"]
    assert "HTTP 404" in result["overlay"]
    assert result["problems"] == [f"HTTP 404: {server.url}/api/studies/gone/series"]
