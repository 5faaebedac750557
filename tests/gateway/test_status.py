"""The site's status page and ``/status.json`` served by the gateway app over HTTP: counts per
state, held-back studies with their local IDs, failures with the registry's error code, the last
sweep; site or region administrators only (bearer JWT from a real test issuer)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gateway.main import create_app
from gateway.models import PublishState
from gateway.pacs.dicomweb import DicomwebPacs
from partage.orthanc import Orthanc
from partage.serve import background
from tests.gateway.studies import Patient, make_spec, store_rest
from tests.gateway.test_publisher import (  # noqa: F401
    OTHER_REGIONAL,
    REGIONAL,
    Site,
    add_instance,
    feed,
    site,
)
from tests.support.issuer import Issuer

UNKNOWN = Patient("IPP999999", "DURAND^Paul", "19700101", "M", issuer="1.2.250.1.999.1.1.1")


@pytest.fixture
def gateway_url(site: Site, issuer: Issuer) -> Iterator[str]:  # noqa: F811
    """The gateway app on the site's database, trusting the test issuer."""
    settings = site.settings.model_copy(update={"issuer": issuer.url})
    pacs = DicomwebPacs(settings.pacs_dicomweb_url)
    try:
        with background(create_app(settings, pacs)) as server:
            yield server.url
    finally:
        pacs.close()


def one_of_each(site: Site, orthanc: Orthanc) -> dict[str, str]:  # noqa: F811
    """A published, a held-back and a failed study; their Study Instance UIDs by state."""
    feed(site.region, REGIONAL)
    published = store_rest(orthanc, make_spec(accession_number="ACC-PUB"))
    failed = store_rest(orthanc, make_spec(accession_number="ACC-FAIL"))
    held = store_rest(orthanc, make_spec(patient=UNKNOWN, accession_number="ACC-HELD"))
    for study in (published, failed):
        assert site.publisher.publish(study.study_instance_uid) == PublishState.PUBLISHED
    feed(site.region, OTHER_REGIONAL)  # the site moves its patient: the RPLC is refused
    add_instance(orthanc, failed)
    assert site.publisher.publish(failed.study_instance_uid) == PublishState.FAILED
    assert site.publisher.publish(held.study_instance_uid) == PublishState.HELD_BACK
    site.sweeper.sweep()
    return {"published": published.study_instance_uid, "failed": failed.study_instance_uid,
            "held_back": held.study_instance_uid}


def bearer(issuer: Issuer, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.token(sub='it-chu-nord', roles=list(roles))}"}


def test_status_json_reports_each_state(site: Site, orthanc: Orthanc, issuer: Issuer,  # noqa: F811
                                        gateway_url: str) -> None:
    uids = one_of_each(site, orthanc)

    answer = httpx.get(f"{gateway_url}/status.json", headers=bearer(issuer, "site-admin"))

    assert answer.status_code == 200
    status = answer.json()
    assert status["site_oid"] == site.settings.site_oid
    assert status["counts"] == {"published": 1, "pending": 0, "held_back": 1, "failed": 1,
                                "deprecated": 0}
    [held] = status["held_back"]
    assert (held["study_instance_uid"], held["local_patient_id"], held["local_authority"]) == (
        uids["held_back"], "IPP999999", "1.2.250.1.999.1.1.1")
    [failed] = status["failed"]
    assert failed["study_instance_uid"] == uids["failed"]
    assert failed["error_code"] == "XDSPatientIdDoesNotMatch" and failed["error_context"]
    assert status["last_sweep"]["finished_at"] and status["last_sweep"]["error"] == ""


def test_status_page_renders(site: Site, orthanc: Orthanc, issuer: Issuer,  # noqa: F811
                             gateway_url: str) -> None:
    one_of_each(site, orthanc)

    page = httpx.get(f"{gateway_url}/status", headers=bearer(issuer, "region-admin"))

    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert site.settings.site_name in html
    assert '<div class="count held_back"><b>1</b>held back</div>' in html
    assert "IPP999999" in html and "ACC-HELD" in html
    assert "XDSPatientIdDoesNotMatch" in html
    assert "last sweep:" in html and "never" not in html


@pytest.mark.parametrize("roles", [(), ("radiologist",), ("patient",)])
def test_status_needs_an_admin(issuer: Issuer, gateway_url: str, roles: tuple[str, ...]) -> None:
    for path in ("/status", "/status.json"):
        assert httpx.get(f"{gateway_url}{path}").status_code == 401
        assert httpx.get(f"{gateway_url}{path}", headers=bearer(issuer, *roles)).status_code == 403
