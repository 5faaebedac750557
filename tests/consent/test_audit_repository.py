"""The audit record repository over real HTTP, UDP and TLS: fed by ``partage.audit.AuditTrail``
as every service feeds it, stored once, refused when malformed, read back as FHIR AuditEvents
by the patient concerned and by region administrators only."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

import ihe.atna as atna
from consent.audit.models import AuditRecord
from consent.audit.syslog import message_body
from partage.audit import AuditTrail, HttpDestination, destinations_from
from partage.db import Database
from partage.devissuer import DevIssuer
from partage.serve import free_port
from partage.settings import ServiceSettings
from tests.consent.conftest import ALICE, BOB, ConsentService, cx, start
from tests.support.certs import self_signed

DR = atna.ActiveParticipant("dr-martin", True, "Dr Martin", "10001234567", network_access_point=
                            "10.0.0.7", organisation="CHU Nord")
DR_ROUX = atna.ActiveParticipant("dr-roux", True, "Dr Roux", "10009999999")
GATEWAY = atna.AuditSource("gateway-a", "1.2.250.1.999.1.1")


def retrieve(ins: str, day: int, user: atna.ActiveParticipant = DR,
             emergency_reason: str = "") -> atna.AuditMessage:
    return atna.access(event=atna.EventID.EXPORT, transaction=atna.enum.RAD_69,
                       when=datetime(2026, 11, day, 9, 30, tzinfo=UTC), user=user,
                       source=GATEWAY, patient_id=cx(ins), study_uids=(f"1.2.826.0.1.{day}",),
                       emergency_reason=emergency_reason)


def post(consent: ConsentService, body: bytes,
         headers: dict[str, str] | None = None) -> httpx.Response:
    return consent.http.post(f"{consent.url}/audit", content=body,
                             headers=headers if headers is not None else consent.service())


def events(consent: ConsentService, headers: dict[str, str],
           **params: object) -> dict[str, Any]:
    answer = consent.http.get(f"{consent.url}/AuditEvent", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+json")
    Bundle.model_validate(answer.json())  # a valid FHIR Bundle of valid AuditEvents
    return dict(answer.json())


def admin(consent: ConsentService) -> dict[str, str]:
    return consent.auth("admin", ["region-admin"])


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_posted_message_is_an_audit_event_for_its_patient(consent: ConsentService) -> None:
    message = retrieve(ALICE, 3, emergency_reason="unconscious, prior head CT needed")
    answer = post(consent, message.to_bytes())
    assert answer.status_code == 201, answer.text
    bundle = events(consent, consent.patient(ALICE))
    assert bundle["total"] == 1
    event = bundle["entry"][0]["resource"]
    assert event["type"]["code"] == "110106"
    assert [c["code"] for c in event["subtype"]] == ["RAD-69", "110127"]
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "ETREAT"
    agent = event["agent"][0]
    assert (agent["who"]["identifier"]["value"], agent["altId"], agent["name"]) == (
        "dr-martin", "10001234567", "Dr Martin")
    assert agent["location"]["display"] == "CHU Nord"
    assert event["source"]["site"] == "1.2.250.1.999.1.1"
    patient, study = event["entity"]
    assert patient["what"]["identifier"]["value"] == cx(ALICE)
    assert patient["detail"] == [{"type": "EmergencyReason",
                                  "valueString": "unconscious, prior head CT needed"}]
    assert study["what"]["identifier"]["value"] == "1.2.826.0.1.3"
    assert events(consent, consent.patient(BOB))["total"] == 0


def test_search_by_patient_agent_and_period(consent: ConsentService) -> None:
    for message in (retrieve(ALICE, 1), retrieve(ALICE, 10), retrieve(ALICE, 20, DR_ROUX),
                    retrieve(BOB, 10)):
        assert post(consent, message.to_bytes()).status_code == 201
    everyone = events(consent, admin(consent))
    assert everyone["total"] == 4
    assert [e["resource"]["recorded"][:10] for e in everyone["entry"]] == [
        "2026-11-20", "2026-11-10", "2026-11-10", "2026-11-01"]
    period = events(consent, admin(consent), patient=ALICE, date=["ge2026-11-10", "le2026-11-20"])
    assert [e["resource"]["recorded"][:10] for e in period["entry"]] == ["2026-11-20",
                                                                          "2026-11-10"]
    assert events(consent, admin(consent), patient=ALICE, date="lt2026-11-10")["total"] == 1
    assert events(consent, admin(consent), agent="10009999999")["total"] == 1
    assert events(consent, admin(consent), agent="dr-martin", patient=cx(ALICE))["total"] == 2
    assert events(consent, consent.patient(ALICE))["total"] == 3


def test_only_the_patient_and_region_admins_read(consent: ConsentService) -> None:
    post(consent, retrieve(BOB, 5).to_bytes())
    url = f"{consent.url}/AuditEvent"
    for headers, params in ((consent.patient(ALICE), {"patient": BOB}),
                            (consent.auth("dr-martin", ["radiologist"]), {"patient": BOB}),
                            (consent.service(), {})):
        answer = consent.http.get(url, params=params, headers=headers)
        assert answer.status_code == 403, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    assert consent.http.get(url).status_code == 401
    assert consent.http.get(url, params={"date": "ge-yesterday"},
                            headers=admin(consent)).status_code == 400


@pytest.mark.parametrize("body", [
    b"",
    b"<AuditMessage>",
    b"<Other/>",
    b"<AuditMessage><AuditSourceIdentification AuditSourceID='x'/></AuditMessage>",
    retrieve(ALICE, 2).to_bytes().replace(b'UserID="dr-martin"', b'UserID=""'),
    b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><AuditMessage>&x;</AuditMessage>',
    b'<!DOCTYPE a [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
    b'<AuditMessage>&b;</AuditMessage>',
], ids=["empty", "truncated", "other-root", "no-participant", "empty-user", "xxe", "entity-bomb"])
def test_malformed_xml_is_a_400_problem_and_nothing_is_stored(consent: ConsentService,
                                                              body: bytes) -> None:
    answer = post(consent, body)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert events(consent, admin(consent))["total"] == 0


def test_oversized_message_is_refused_unread(consent: ConsentService) -> None:
    padding = b"<!--" + b"x" * 1024 * 1024 + b"-->"
    huge = retrieve(ALICE, 2).to_bytes().replace(b"</AuditMessage>", padding + b"</AuditMessage>")
    assert post(consent, huge).status_code == 413
    chunked = consent.http.post(f"{consent.url}/audit", headers=consent.service(),
                                content=iter([huge[:600_000], huge[600_000:]]))
    assert chunked.status_code == 413
    assert events(consent, admin(consent))["total"] == 0


def test_only_services_post(consent: ConsentService) -> None:
    body = retrieve(ALICE, 2).to_bytes()
    assert post(consent, body, {}).status_code == 401
    assert post(consent, body, consent.auth("dr-martin", ["radiologist"])).status_code == 403
    assert post(consent, body, consent.patient(ALICE)).status_code == 403
    assert events(consent, admin(consent))["total"] == 0


def test_a_message_sent_twice_is_stored_once(consent: ConsentService) -> None:
    body = retrieve(ALICE, 2).to_bytes()
    first, again = post(consent, body), post(consent, body)
    assert first.status_code == again.status_code == 201
    assert first.headers["Location"] == again.headers["Location"]
    assert events(consent, admin(consent))["total"] == 1


@pytest.fixture
def syslog_consent(issuer: DevIssuer, database_url: str,
                   tmp_path: Path) -> Iterator[tuple[ConsentService, int, int, Path]]:
    """The service with its UDP and TLS syslog listeners on free ports."""
    cert, key = self_signed(tmp_path)
    udp, tls = free_port(), free_port()
    for service in start(issuer, database_url, tmp_path, audit_udp_port=udp, audit_tls_port=tls,
                         audit_tls_cert_file=str(cert), audit_tls_key_file=str(key)):
        yield service, udp, tls, cert


def test_every_transport_stores_exactly_once(syslog_consent: tuple[ConsentService, int, int, Path],
                                             database_url: str, tmp_path: Path) -> None:
    consent, udp, tls, cert = syslog_consent
    token = consent.issuer.token("gateway-a", ["site-gateway"], lifetime_s=600)
    settings = ServiceSettings(data_dir=tmp_path / "gw", audit_url=f"{consent.url}/audit",
                               audit_syslog=f"udp://127.0.0.1:{udp},tls://127.0.0.1:{tls}",
                               audit_ca_file=str(cert))
    # every message goes to all three destinations; each is kept once
    with AuditTrail(tmp_path / "q.sqlite", destinations_from(settings, "gateway",
                                                             lambda: token)) as trail:
        for day in range(1, 6):
            trail.record(retrieve(ALICE, day))
        wait_for(lambda: trail.pending() == 0)
    wait_for(lambda: events(consent, admin(consent))["total"] == 5)
    # and each transport alone stores what it carries
    for n, spec in enumerate((f"udp://127.0.0.1:{udp}", f"tls://127.0.0.1:{tls}")):
        alone = settings.model_copy(update={"audit_url": "", "audit_syslog": spec})
        with AuditTrail(tmp_path / f"q{n}.sqlite", destinations_from(alone, "gateway")) as trail:
            trail.record(retrieve(BOB, 10 + n))
            wait_for(lambda: trail.pending() == 0)
    wait_for(lambda: events(consent, admin(consent), patient=BOB)["total"] == 2)
    with Database(database_url).session() as session:
        transports = session.scalars(select(AuditRecord.transport)
                                     .where(AuditRecord.patient_id == cx(BOB))
                                     .order_by(AuditRecord.event_time)).all()
    assert transports == ["udp", "tls"]


def test_repository_down_then_up_gets_every_message_once(issuer: DevIssuer, database_url: str,
                                                         tmp_path: Path) -> None:
    port = free_port()
    token = issuer.token("registry", ["service"], lifetime_s=600)
    destination = HttpDestination(f"http://127.0.0.1:{port}/audit", lambda: token)
    with AuditTrail(tmp_path / "q.sqlite", [destination], backoff_s=0.05,
                    backoff_max_s=0.3) as trail:
        started = time.perf_counter()
        for day in range(1, 11):
            trail.record(retrieve(ALICE, day))
        assert time.perf_counter() - started < 1.0
        time.sleep(0.5)
        assert trail.pending() == 10
        from consent.core.config import ConsentSettings
        from consent.main import create_app
        from partage.serve import background
        config = ConsentSettings(data_dir=tmp_path, database_url=database_url, issuer=issuer.url)
        with background(create_app(config), port=port):
            wait_for(lambda: trail.pending() == 0)
    with Database(database_url).session() as session:
        days = session.scalars(select(AuditRecord.event_time).order_by(AuditRecord.id)).all()
    assert [d.day for d in days] == list(range(1, 11))


@pytest.mark.parametrize("frame, body", [
    (b"<85>1 2026-11-27T20:05:01.250Z h app 42 IHE+RFC-3881 - \xef\xbb\xbf<A/>", b"<A/>"),
    (b"<85>1 - - - - - - <A/>", b"<A/>"),
    (b'<85>1 - h a p m [x@1 k="a \\] b"][y@2] <A/>', b"<A/>"),
])
def test_syslog_message_body(frame: bytes, body: bytes) -> None:
    assert message_body(frame) == body


def test_syslog_message_body_refuses_other_formats() -> None:
    with pytest.raises(ValueError):
        message_body(b"<85>Nov 27 20:05:01 host app: <A/>")  # RFC 3164
