"""Fixtures shared by the gateway's serving tests: a real token issuer over HTTP and a gateway
in front of the session's Orthanc, once per PACS adapter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from partage.orthanc import Orthanc
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.issuer import Issuer


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer.running() as running:
        yield running


@pytest.fixture(params=["dicomweb", "dimse"])
def gateway(request: pytest.FixtureRequest, orthanc: Orthanc, issuer: Issuer,
            tmp_path: Path) -> Iterator[RunningGateway]:
    """A gateway with the DICOMweb adapter, then with the DIMSE one."""
    with running_gateway(orthanc, issuer, tmp_path, pacs_adapter=request.param) as running:
        yield running
