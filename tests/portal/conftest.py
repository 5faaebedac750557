"""Portal fixtures: an in-process token issuer and a real registry trusting it, with one
patient's studies from two sites registered as the gateways publish them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from partage.devissuer import DevIssuer
from tests.conftest import gateway_token
from tests.portal.support import SITE_A, SITE_B, RunningRegistry, Study, running_registry

#: Claire MARTIN's studies: a current chest CT at site A, priors at both sites
CLAIRE = ("2801205123456", "MARTIN", "Claire", "1980-12-05")
CLAIRE_STUDIES = (
    Study.of(SITE_A, "2025-03-14T09:30", "CT", "Chest", "CT thorax injecté", "A2025-0311", 312),
    Study.of(SITE_B, "2023-06-02T14:00", "CT", "Chest", "Scanner thoracique", "B2023-7781", 287),
    Study.of(SITE_B, "2024-01-20T10:15", "MR", "Head", "IRM cérébrale", "B2024-0042", 540),
    Study.of(SITE_A, "2021-11-05T08:00", "CT", "Chest", "CT thorax", "A2021-5521", 250),
    Study.of(SITE_A, "2024-09-09T11:00", "CR", "Chest", "Radiographie thoracique", "A2024-9001",
             2),
)


@dataclass(frozen=True)
class Published:
    issuer: DevIssuer
    registry: RunningRegistry
    patient_id: str
    studies: tuple[Study, ...]


@pytest.fixture(scope="module")
def issuer() -> Iterator[DevIssuer]:
    with DevIssuer.running() as running:
        yield running


@pytest.fixture(scope="module")
def published(issuer: DevIssuer, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Published]:
    """A registry trusting ``issuer`` with Claire MARTIN's five studies (and a patient with
    none)."""
    data_dir: Path = tmp_path_factory.mktemp("registry")
    with running_registry(data_dir, issuer.url) as registry:
        patient_id = registry.feed(*CLAIRE)
        registry.feed("1750399123457", "DURAND", "Paul", "1975-03-12", "M")
        for study in CLAIRE_STUDIES:
            registry.publish(patient_id, study, gateway_token(issuer, study.site[1]))
        yield Published(issuer, registry, patient_id, CLAIRE_STUDIES)
