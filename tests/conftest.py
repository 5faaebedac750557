"""Shared fixtures: a fresh database per test on SQLite and, when ``PARTAGE_TEST_POSTGRES_URL``
is set (CI sets it), on PostgreSQL too; services served over real HTTP on loopback, trusting one
development token issuer (``issuer``) whose tokens the tests send."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from gateway.core.config import GatewaySettings
from partage.devissuer import DevIssuer
from partage.idp import DevIdP, portal_client, service_client
from partage.orthanc import Orthanc, OrthancConfig
from partage.serve import background, free_port
from partage.sources import REPOSITORY, SITE_GATEWAY
from registry.core.config import RegistrySettings
from registry.main import create_app as create_registry
from registry.models import RegistryObjectRow
from repository.core.config import RepositorySettings
from repository.main import create_app as create_repository
from repository.models import StoredDocument

CONFORMANCE = Path(
    os.environ.get(
        "PARTAGE_CONFORMANCE_DIR",
        Path(__file__).resolve().parent.parent.parent / "shared" / "conformance",
    )
)
POSTGRES_URL = os.environ.get("PARTAGE_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def orthanc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    """One real Orthanc (Debian package) for the session, DICOMweb on; ``orthanc`` empties it."""
    root = tmp_path_factory.mktemp("orthanc")
    config = OrthancConfig("pacs", "ORTHANC", free_port(), free_port(), root / "storage")
    with Orthanc(config) as server:
        yield server


@pytest.fixture
def orthanc(orthanc_server: Orthanc) -> Iterator[Orthanc]:
    """The session's Orthanc, empty at the start of the test."""
    orthanc_server.clear()
    yield orthanc_server


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    assert CONFORMANCE.is_dir(), f"conformance material not found at {CONFORMANCE}"
    return CONFORMANCE


def fresh_postgres_database() -> tuple[str, str]:
    """Create an empty database on the test server; return (its URL, its name)."""
    name = f"partage_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{name}", name


def drop_postgres_database(name: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def issuer() -> Iterator[DevIssuer]:
    """The development token issuer (discovery, JWKS, client credentials) every service of a
    test trusts; ``issuer.token(...)`` mints a caller's token."""
    with DevIssuer.running() as running:
        yield running


#: the repository's client at the development IdP (role ``repository``: a registry writer)
REPOSITORY_CLIENT, REPOSITORY_SECRET = "repository", "repository-dev-secret"
#: the site a gateway publishes for unless its settings say otherwise
DEFAULT_SITE: str = GatewaySettings.model_fields["site_oid"].default


def gateway_token(issuer: DevIssuer, site: str) -> str:
    """A token as ``site``'s gateway gets it: role ``site-gateway``, claim ``site``."""
    return issuer.token(f"gateway-{site}", [SITE_GATEWAY], site=site)


def repository_token(issuer: DevIssuer) -> str:
    """A token as the repository gets it for ITI-42: the registry's trusted forwarder."""
    return issuer.token("repository", [REPOSITORY])


@dataclass
class Region:
    """Our registry and repository over real HTTP, each on its own database; ``registry`` and
    ``repository`` are their SOAP endpoints; they accept ``issuer``'s tokens."""

    base: str
    registry: str
    repository: str
    registry_app: FastAPI
    repository_app: FastAPI
    feed_token: str
    repository_unique_id: str
    issuer: DevIssuer

    def token(self, sub: str = "dr-martin", roles: list[str] | None = None, **claims: object
              ) -> str:
        """A caller's bearer token (a radiologist's unless ``roles`` say otherwise)."""
        return self.issuer.token(sub, roles, **claims)  # type: ignore[arg-type]

    def auth(self, **claims: object) -> dict[str, str]:
        """An ``Authorization`` header with a fresh ``token``."""
        return {"Authorization": f"Bearer {self.token(**claims)}"}  # type: ignore[arg-type]

    def service_client(self, site: str = DEFAULT_SITE, client_id: str = "") -> dict[str, str]:
        """Settings of ``site``'s gateway (by default a gateway's default site) calling the
        region with its own tokens (its issuer must be ``issuer``): a new client registered
        there (client credentials, role ``site-gateway``, claim ``site``)."""
        client_id = client_id or f"gateway-{uuid.uuid4().hex[:8]}"
        secret = self.issuer.register_client(client_id, roles=[SITE_GATEWAY], site=site)
        return {"client_id": client_id, "client_secret": secret}

    def source_token(self, site: str) -> str:
        """The token ``site``'s gateway gets (ITI-41, ITI-42 and ITI-57 need a writer's)."""
        return gateway_token(self.issuer, site)

    def feed(self, patient_id: str) -> None:
        """Make ``patient_id`` known to the registry through its REST identity feed."""
        answer = httpx.put(
            f"{self.base}/identity/patients/{quote(patient_id, safe='')}",
            json={"family_name": "TEST", "given_name": "Patient", "identifiers": []},
            headers={"Authorization": f"Bearer {self.feed_token}"},
        )
        answer.raise_for_status()

    def count_rows(self) -> tuple[int, int]:
        """(registry objects, repository documents): what a refused request must not change."""
        with self.registry_app.state.ctx.db.session() as session:
            objects = session.scalar(select(func.count()).select_from(RegistryObjectRow))
        with self.repository_app.state.ctx.db.session() as session:
            documents = session.scalar(select(func.count()).select_from(StoredDocument))
        return int(objects or 0), int(documents or 0)


@contextmanager
def _service_databases(backend: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if backend == "sqlite":
        yield "", ""  # each service's own SQLite file under its data_dir
        return
    if not POSTGRES_URL:
        pytest.skip("PARTAGE_TEST_POSTGRES_URL is not set")
    (registry_url, registry_name), (repository_url, repository_name) = (
        fresh_postgres_database(), fresh_postgres_database()
    )
    try:
        yield registry_url, repository_url
    finally:
        drop_postgres_database(registry_name)
        drop_postgres_database(repository_name)


@pytest.fixture(params=BACKENDS)
def region(request: pytest.FixtureRequest, tmp_path: Path, issuer: DevIssuer
           ) -> Iterator[Region]:
    """Registry + repository wired together as in production, trusting ``issuer`` (the
    repository forwards ITI-42 with its own client credentials), with a small body limit so
    the oversize checks stay cheap."""
    with _service_databases(request.param, tmp_path) as (registry_db, repository_db):
        registry_settings = RegistrySettings(
            data_dir=tmp_path / "registry", database_url=registry_db, log_json=False,
            max_body_bytes=1024 * 1024, issuer=issuer.url,
        )
        registry_app = create_registry(registry_settings)
        with background(registry_app) as registry:
            client_id = f"repository-{uuid.uuid4().hex[:8]}"
            repository_settings = RepositorySettings(
                data_dir=tmp_path / "repository", database_url=repository_db, log_json=False,
                registry_url=f"{registry.url}/registry", max_body_bytes=1024 * 1024,
                issuer=issuer.url, client_id=client_id,
                client_secret=issuer.register_client(client_id, roles=[REPOSITORY]),
            )
            repository_app = create_repository(repository_settings)
            with background(repository_app) as repository:
                yield Region(
                    registry.url, f"{registry.url}/registry", f"{repository.url}/repository",
                    registry_app, repository_app, registry_settings.feed_token,
                    repository_settings.repository_unique_id, issuer,
                )


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: an SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PARTAGE_TEST_POSTGRES_URL is not set")
    url, name = fresh_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(name)


@pytest.fixture(scope="session")
def portal_port() -> int:
    """The port the portal under test listens on (its redirect URIs are registered at the IdP)."""
    return free_port()


@pytest.fixture(scope="session")
def idp(tmp_path_factory: pytest.TempPathFactory, portal_port: int) -> Iterator[DevIdP]:
    """The development OIDC provider (Node, deploy/idp) for the session: the portal client
    ``partage-portal`` (secret ``DEV_PORTAL_SECRET``) redirecting to the portal on
    ``portal_port``, the service client ``gateway-a`` of site A and the repository's
    (``REPOSITORY_CLIENT``); ``idp.client(id)`` gives each client's metadata and secret."""
    clients = [portal_client(f"http://127.0.0.1:{portal_port}"),
               service_client("gateway-a", "gateway-a-dev-secret", [SITE_GATEWAY],
                              "1.2.250.1.999.1.1"),
               service_client(REPOSITORY_CLIENT, REPOSITORY_SECRET, [REPOSITORY])]
    with DevIdP.running(tmp_path_factory.mktemp("idp"), clients) as server:
        yield server


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The property tests' counts (``record_property("counts", …)``) at the end of the run,
    also from xdist workers, whose own output is not shown."""
    lines = [str(value) for reports in terminalreporter.stats.values() for report in reports
             if getattr(report, "when", "") == "call"
             for name, value in getattr(report, "user_properties", ()) if name == "counts"]
    if lines:
        terminalreporter.section("property tests: cases judged")
        for line in lines:
            terminalreporter.line(line)
