"""Fixtures shared by the gateway's serving tests: a gateway in front of the session's Orthanc,
once per PACS adapter, trusting the session's token issuer (``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from partage.orthanc import Orthanc
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.issuer import Issuer


@pytest.fixture(params=["dicomweb", "dimse"])
def gateway(request: pytest.FixtureRequest, orthanc: Orthanc, issuer: Issuer,
            tmp_path: Path) -> Iterator[RunningGateway]:
    """A gateway with the DICOMweb adapter, then with the DIMSE one."""
    with running_gateway(orthanc, issuer, tmp_path, pacs_adapter=request.param) as running:
        yield running
