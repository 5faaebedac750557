"""The consent service over real HTTP on a free loopback port, on a fresh database (SQLite, and
PostgreSQL when ``PARTAGE_TEST_POSTGRES_URL`` is set), trusting the session's ``issuer``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from consent.core.config import ConsentSettings
from consent.main import create_app
from partage.devissuer import DevIssuer
from partage.serve import background

AUTHORITY = "1.2.250.1.213.1.4.10"
ALICE, BOB = "2801205123456", "1750399123457"
RADIOLOGIST = {"sub": "dr-martin", "rpps": "10001234567", "roles": ["radiologist"],
               "organisation_oid": "1.2.250.1.999.1.1"}


def cx(ins: str) -> str:
    return f"{ins}^^^&{AUTHORITY}&ISO"


@dataclass
class ConsentService:
    url: str
    issuer: DevIssuer
    http: httpx.Client

    def auth(self, sub: str, roles: list[str], **claims: object) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.token(sub, roles, **claims)}"}

    def patient(self, ins: str) -> dict[str, str]:
        """A patient's own headers (role patient, ``ins`` claim)."""
        return self.auth(f"patient-{ins}", ["patient"], ins=ins)

    def service(self) -> dict[str, str]:
        return self.auth("registry", ["service"])

    def put_policy(self, ins: str, **policy: object) -> httpx.Response:
        return self.http.put(f"{self.url}/patients/{ins}/policy", json=policy,
                             headers=self.patient(ins))

    def decide(self, ins: str, user: dict[str, object] | None = None,
               **request: object) -> dict[str, object]:
        body = {"patient": ins, "user": user or RADIOLOGIST, **request}
        answer = self.http.post(f"{self.url}/decisions", json=body, headers=self.service())
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


class MovingClock:
    """A UTC clock the test moves (grant expiry without waiting two hours)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def start(issuer: DevIssuer, database_url: str, tmp_path: Path,
          clock: Callable[[], datetime] | None = None,
          **settings: object) -> Iterator[ConsentService]:
    config = ConsentSettings(data_dir=tmp_path, database_url=database_url, log_json=False,
                             issuer=issuer.url, **settings)  # type: ignore[arg-type]
    app = create_app(config, clock) if clock else create_app(config)
    with background(app) as server, httpx.Client(timeout=10) as http:
        yield ConsentService(server.url, issuer, http)


@pytest.fixture
def consent(issuer: DevIssuer, database_url: str, tmp_path: Path) -> Iterator[ConsentService]:
    """The service on the region's defaults: opt-out, emergency access allowed."""
    yield from start(issuer, database_url, tmp_path)
