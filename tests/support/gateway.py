"""A real site gateway for tests: ``create_app`` over real HTTP, in front of a real Orthanc
through the adapter the test chooses, trusting a real ``Issuer``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gateway.core.config import GatewaySettings
from gateway.main import create_app
from gateway.pacs import Pacs
from gateway.pacs.dicomweb import DicomwebPacs
from gateway.pacs.dimse import DimsePacs
from partage.orthanc import Orthanc
from partage.serve import background, free_port
from tests.support.issuer import Issuer

REPOSITORY_UID = "1.2.250.1.999.1.1.2"
HOME_COMMUNITY = "urn:oid:1.2.250.1.999.1"


@dataclass
class RunningGateway:
    url: str
    issuer: Issuer
    settings: GatewaySettings

    def auth(self, token: str | None = None, **claims: object) -> dict[str, str]:
        """An Authorization header: ``token``, or a radiologist's fresh one."""
        return {"Authorization": f"Bearer {token or self.issuer.token(**claims)}"}  # type: ignore[arg-type]


def gateway_settings(orthanc: Orthanc, issuer: Issuer, data_dir: Path,
                     **overrides: object) -> GatewaySettings:
    values: dict[str, object] = {
        "data_dir": data_dir, "log_json": False, "issuer": issuer.url, "audience": "partage",
        "repository_unique_id": REPOSITORY_UID, "home_community_id": HOME_COMMUNITY,
        "pacs_adapter": "dicomweb", "pacs_dicomweb_url": orthanc.dicomweb,
        "pacs_host": "127.0.0.1", "pacs_port": orthanc.config.dicom_port,
        "pacs_ae_title": orthanc.config.ae_title, "dicom_port": free_port(),
    }
    values.update(overrides)
    return GatewaySettings(**values)  # type: ignore[arg-type]


def open_adapter(settings: GatewaySettings, **options: object) -> Pacs:
    if settings.pacs_adapter == "dicomweb":
        return DicomwebPacs(settings.pacs_dicomweb_url)
    return DimsePacs(settings, **options)  # type: ignore[arg-type]


@contextmanager
def running_gateway(orthanc: Orthanc, issuer: Issuer, data_dir: Path, *,
                    pacs_options: dict[str, object] | None = None,
                    **overrides: object) -> Iterator[RunningGateway]:
    port = free_port()
    settings = gateway_settings(orthanc, issuer, data_dir, port=port,
                                public_url=f"http://127.0.0.1:{port}", **overrides)
    pacs = open_adapter(settings, **(pacs_options or {}))
    try:
        with background(create_app(settings, pacs), port=port) as server:
            yield RunningGateway(server.url, issuer, settings)
    finally:
        pacs.close()
