"""The region the portal's consent tests run against (HTTP in ``test_consent.py``, headless
Chromium in ``test_consent_browser.py``): two sites, Paul DURAND with a CT at site A and an MR
at site B, Jeanne PETIT with a chest X-ray at site A, each published through its gateway."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from partage.demo_sites import SITES, DemoPatient
from partage.region import Region, ports_for
from partage.studies import StudySpec

SITE_A, SITE_B = SITES
PAUL = DemoPatient("1750399123457", "DURAND", "Paul", "19750312", "M",
                   (("a", "IPP-A-2001"), ("b", "CIS-40021")))
JEANNE = DemoPatient("2620875123458", "PETIT", "Jeanne", "19620815", "F", (("a", "IPP-A-3001"),))
MARTIN_RPPS, LEFEVRE_RPPS = "10001234567", "10007654321"


def spec(patient: DemoPatient, site_key: str, modality: str, description: str,
         day: str) -> StudySpec:
    site = SITE_A if site_key == "a" else SITE_B
    return StudySpec(patient=patient.at(site), institution=site.name, rows=64, columns=64,
                     modality=modality, body_part="CHEST" if modality == "CT" else "BRAIN",
                     description=description, study_date=day, slices=2,
                     accession_number=f"{site_key.upper()}{day}")


PAUL_CT = spec(PAUL, "a", "CT", "CT THORAX", "20250110")
PAUL_MR = spec(PAUL, "b", "MR", "IRM CEREBRALE CONFIDENTIELLE", "20240305")
JEANNE_CR = spec(JEANNE, "a", "CR", "RADIO THORAX", "20250201")
SPECS = {"a": [PAUL_CT, JEANNE_CR], "b": [PAUL_MR]}


@contextmanager
def consent_region(data_dir: Path) -> Iterator[Region]:
    """The region with every study published and the portal up (site B's PACS receives
    "send to PACS")."""
    with Region(data_dir, ports_for(SITES), SITES) as running:
        running.feed([PAUL, JEANNE])
        for site in SITES:
            running.start_site(site, SPECS[site.key])
        for site in SITES:
            running.wait_published(site.key, len(SPECS[site.key]))
        running.start_portal(export_site="b")
        yield running
