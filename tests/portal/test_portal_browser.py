"""The portal as a radiologist uses it, end to end in headless Chromium: the whole region on
loopback (the development OIDC provider, registry, repository, two sites — an Orthanc PACS and a
gateway each, site A over DIMSE, site B over DICOMweb — and the portal), a patient with a chest
CT at site A and priors at site B; the walk of ``tests/browser/portal_flow.js``: sign in on the
IdP's login page, search, timeline with both sites, the current CT beside the most relevant prior
from the other site, both viewports with pixels, synchronised scrolling, a length; a patient is
refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.portal import CHROMIUM, walk
from partage.demo_sites import SITES, DemoPatient
from partage.region import Region, ports_for
from partage.studies import StudySpec

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (Debian package chromium)"
)

SITE_A, SITE_B = SITES
PATIENT = DemoPatient("2801205123456", "MARTIN", "Claire", "19801205", "F",
                      (("a", "IPP-A-1001"), ("b", "CIS-30017")))


def specs(site_key: str) -> list[StudySpec]:
    """Site A: this year's chest CT (the current study). Site B: a chest CT two years ago (the
    most relevant prior) and an older brain MR (same patient, less relevant)."""
    site = SITE_A if site_key == "a" else SITE_B
    patient = PATIENT.at(site)
    common = dict(patient=patient, institution=site.name, rows=256, columns=256)
    if site_key == "a":
        return [StudySpec(**common, modality="CT", body_part="CHEST", description="CT THORAX",
                          study_date="20250114", accession_number="CHUN25000412", slices=40)]
    return [
        StudySpec(**common, modality="CT", body_part="CHEST", description="CT THORAX",
                  study_date="20230611", accession_number="CIS23000042", slices=30),
        StudySpec(**common, modality="MR", body_part="BRAIN", description="IRM CEREBRALE",
                  study_date="20210303", accession_number="CIS21000777", slices=12),
    ]


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    with Region(tmp_path_factory.mktemp("region"), ports_for(SITES), SITES) as running:
        running.feed([PATIENT])
        for site in SITES:
            running.start_site(site, specs(site.key))
        for site in SITES:
            running.wait_published(site.key, len(specs(site.key)))
        running.start_portal(export_site="a")
        yield running


def test_radiologist_compares_a_current_ct_with_a_prior_from_another_site(
        region: Region, tmp_path: Path) -> None:
    seen = walk(region.portal_url, tmp_path, ins=PATIENT.ins, login="dr.martin",
                patient_login="claire.martin", current_site=SITE_A.name,
                prior_site=SITE_B.name, modality="CT")
    assert "error" not in seen, seen
    assert seen["loginPage"] == region.idp.issuer  # the IdP's own login page, not the portal's
    assert "MARTIN" in seen["patientName"]
    assert {m["site"] for m in seen["marks"]} == {SITE_A.name, SITE_B.name}
    assert len(seen["marks"]) == 3
    assert any("MARTIN" in row for row in seen["searchResults"])
    assert seen["bestPrior"]["site"] == SITE_B.name  # same modality and region, other site

    assert seen["pickerStudies"] == 3  # the series picker offers every study of the patient
    initial = seen["steps"]["initial"]["viewports"]
    assert [v["nonBlank"] for v in initial[:2]] == [True, True]
    assert initial[0]["studyId"] != initial[1]["studyId"]
    scrolled = seen["steps"]["scrolled"]["viewports"]
    assert scrolled[0]["imageIndex"] == initial[0]["imageIndex"] + 5
    assert scrolled[1]["imageIndex"] != initial[1]["imageIndex"]  # the prior followed
    lengths = [m["length"] for m in seen["steps"]["length"]["viewports"][0]["measurements"]]
    assert len(lengths) == 1 and lengths[0] > 0
    assert Path(seen["screenshot"]).stat().st_size > 10_000
    assert seen["problems"] == []

    assert seen["patientStatus"] == 403
    assert "professionnels de santé" in seen["patientRefusal"]
