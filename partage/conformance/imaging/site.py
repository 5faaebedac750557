"""Our own Imaging Document Source for ``partage conformance imaging`` without ``--against``:
the registry and repository, one Orthanc holding the three imaging-std studies, a development
token issuer and a gateway configured as the ids_2018-4800 readme asks, all on loopback.

The gateway finds and publishes the studies by itself (its sweep by StudyDate at start-up), once
the registry knows each local patient ID's regional ID (the tests' mapping, fed as a
cross-reference). It asks the registry with its own client-credentials token from the issuer
the registry and repository trust.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote

import httpx

from partage.conformance.execute import Row
from partage.conformance.feed import RestFeed
from partage.conformance.imaging.common import Source
from partage.conformance.imaging.fixture import (
    ACCESSION_AUTHORITY,
    AFFINITY_CODES,
    NIST_REPOSITORY,
    ImagingStudy,
)
from partage.conformance.transport import Endpoints
from partage.sources import SITE_GATEWAY

#: the department's assigning authority for its local patient IDs (the tests name none)
LOCAL_AUTHORITY = "1.3.6.1.4.1.21367.13.80.110.1"
#: the gateway's OAuth client at the run's development issuer
GATEWAY_CLIENT = "partage-ids-gateway"
PUBLISH_TIMEOUT_S = 60.0


@dataclass
class OwnSite:
    source: Source
    #: the registry's and repository's endpoints, with a consumer's token
    endpoints: Endpoints
    rows: list[Row] = field(default_factory=list)


def link(feed: RestFeed, study: ImagingStudy) -> None:
    """The cross-reference local ID → regional ID through the registry's REST identity feed."""
    name = str(study.head.get("PatientName", "")).split("^")
    answer = feed.client.put(
        f"{feed.base.rstrip('/')}/patients/{quote(study.regional_id, safe='')}",
        json={"family_name": name[0] or "Unknown", "given_name": name[1] if len(name) > 1 else "",
              "identifiers": [{"authority": LOCAL_AUTHORITY,
                               "local_id": str(study.head.PatientID)}]},
        headers={"Authorization": f"Bearer {feed.token}"},
    )
    answer.raise_for_status()


def _sweep_days(studies: dict[str, ImagingStudy]) -> int:
    """Days back to the oldest StudyDate: the start-up sweep then covers every study."""
    oldest = min(datetime.strptime(str(s.head.StudyDate), "%Y%m%d").date()
                 for s in studies.values())
    return (date.today() - oldest).days + 1


def _publish_rows(client: httpx.Client, gateway_url: str, token: str,
                  studies: dict[str, ImagingStudy]) -> list[Row]:
    """Wait for the gateway's start-up sweep to finish; one row per study from its status."""
    deadline = time.monotonic() + PUBLISH_TIMEOUT_S
    status: dict[str, object] = {}
    while time.monotonic() < deadline:
        answer = client.get(f"{gateway_url}/status.json",
                            headers={"Authorization": f"Bearer {token}"})
        answer.raise_for_status()
        status = answer.json()
        sweep = status.get("last_sweep")
        if isinstance(sweep, dict) and sweep.get("finished_at"):
            break
        time.sleep(0.2)
    states = {item["study_instance_uid"]: (state, item)
              for state in ("held_back", "failed", "pending")
              for item in status.get(state, [])}  # type: ignore[attr-defined]
    rows = []
    for letter, study in studies.items():
        row = Row(f"ids_2018-4801{letter}", "RAD-68", "publish", "published", "published")
        if not status.get("last_sweep"):
            row.got, row.reasons = "no sweep", [f"no sweep within {PUBLISH_TIMEOUT_S:.0f} s"]
        elif study.study_uid in states:
            state, item = states[study.study_uid]
            row.got = state
            row.reasons.append(f"{item.get('error_code') or state}: "
                               f"{item.get('error_context') or ''}".rstrip(": "))
        rows.append(row)
    return rows


@contextmanager
def own_site(client: httpx.Client, studies: dict[str, ImagingStudy]) -> Iterator[OwnSite]:
    from gateway.core.config import CodeSetting, GatewaySettings
    from gateway.main import create_app
    from partage.conformance.runner import own_services
    from partage.orthanc import Orthanc, OrthancConfig
    from partage.serve import background, free_port

    with ExitStack() as stack:
        own = stack.enter_context(own_services(client))
        endpoints, feed, issuer = own.endpoints, own.feed, own.issuer
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="partage-imaging-")))
        orthanc = stack.enter_context(Orthanc(OrthancConfig(
            "ids-pacs", "IDS_PACS", free_port(), free_port(), tmp / "orthanc" / "storage")))
        for study in studies.values():
            for path in sorted((study.folder / "images").glob("*.dcm")):
                orthanc.upload(path.read_bytes())
            link(feed, study)
        port = free_port()
        site_oid = GatewaySettings.model_fields["site_oid"].default
        settings = GatewaySettings(
            data_dir=tmp / "gateway", log_json=False, port=port,
            public_url=f"http://127.0.0.1:{port}", site_name="Partage IDS",
            accession_authority=ACCESSION_AUTHORITY, local_patient_authority=LOCAL_AUTHORITY,
            repository_unique_id=NIST_REPOSITORY,
            pacs_adapter="dicomweb", pacs_dicomweb_url=orthanc.dicomweb,
            registry_url=endpoints.registry, repository_url=endpoints.repository,
            identity_url=feed.base, issuer=issuer.url, audience=issuer.audience,
            site_oid=site_oid, client_id=GATEWAY_CLIENT,
            client_secret=issuer.register_client(GATEWAY_CLIENT, roles=[SITE_GATEWAY],
                                                 site=site_oid),
            dicom_port=0, sweep_interval_s=3600, sweep_days=_sweep_days(studies),
            **{name: CodeSetting(code=code, scheme=scheme, display=display)
               for name, (_, code, scheme, display) in AFFINITY_CODES.items()},
        )
        gateway = stack.enter_context(background(create_app(settings), port=port))
        rows = _publish_rows(client, gateway.url, issuer.token("conformance", ["site-admin"]),
                             studies)
        source = Source(f"{gateway.url}/rad69", f"{gateway.url}/wado", NIST_REPOSITORY,
                        issuer.token("conformance", ["radiologist"], lifetime_s=3600))
        yield OwnSite(source, endpoints, rows)
