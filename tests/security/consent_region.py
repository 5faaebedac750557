"""The real consent service for enforcement tests: the policy decision point the registry and
the gateway ask, and the audit record repository they post to; ``events`` reads what arrived
through its FHIR AuditEvent search (ITI-81 style), waiting for the services' audit senders."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from partage.devissuer import DevIssuer
from tests.consent.conftest import ALICE, AUTHORITY, BOB, ConsentService, cx, start

__all__ = ["ALICE", "AUTHORITY", "BOB", "LEFEVRE", "MARTIN", "consent_service", "cx",
           "event_code", "events", "service_client", "transaction"]

#: demo professionals (deploy/idp/users.json)
MARTIN = {"sub": "dr-martin", "rpps": "10001234567", "organisation_oid": "1.2.250.1.999.1.1"}
LEFEVRE = {"sub": "dr-lefevre", "rpps": "10007654321", "organisation_oid": "1.2.250.1.999.1.2"}


@contextmanager
def consent_service(issuer: DevIssuer, tmp_path: Path, **settings: object
                    ) -> Iterator[ConsentService]:
    """The consent service on its own SQLite database, trusting ``issuer``."""
    folder = tmp_path / f"consent-{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    with contextmanager(start)(issuer, f"sqlite:///{folder / 'consent.sqlite'}", folder,
                               **settings) as service:
        yield service


def service_client(issuer: DevIssuer, roles: list[str], **claims: object) -> dict[str, str]:
    """Settings of a service calling the region with its own client credentials."""
    client_id = f"svc-{uuid.uuid4().hex[:8]}"
    return {"client_id": client_id,
            "client_secret": issuer.register_client(client_id, roles=roles, **claims)}


def events(consent: ConsentService, *, expect: int, timeout: float = 15.0,
           settle: float = 0.5, **search: str) -> list[dict[str, Any]]:
    """The AuditEvents of ``search`` (patient=, agent=) once at least ``expect`` have arrived
    (then ``settle`` seconds more, so extra ones would show), newest first."""
    deadline = time.monotonic() + timeout
    admin = consent.auth("admin", ["region-admin"])
    found: list[dict[str, Any]] = []
    while True:
        answer = consent.http.get(f"{consent.url}/AuditEvent", params=search, headers=admin)
        assert answer.status_code == 200, answer.text
        found = [e["resource"] for e in answer.json()["entry"]]
        if len(found) >= expect or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if settle:
        time.sleep(settle)
        answer = consent.http.get(f"{consent.url}/AuditEvent", params=search, headers=admin)
        found = [e["resource"] for e in answer.json()["entry"]]
    return found


def event_code(event: dict[str, Any]) -> str:
    return str(event["type"]["code"])


def transaction(event: dict[str, Any]) -> str:
    return str(event.get("subtype", [{}])[0].get("code", ""))
