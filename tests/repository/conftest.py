"""A repository served over real HTTP, in front of a recording registry peer, trusting the
session's development token issuer."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ihe.ebrim import RetrieveDocumentSetRequest, RetrieveDocumentSetResponse
from partage.devissuer import DevIssuer
from partage.serve import BackgroundServer, background
from partage.soapclient import XdsClient
from repository.api.deps import RepositoryContext
from repository.core.config import RepositorySettings
from repository.main import create_app
from partage.sources import SITE_GATEWAY
from tests.repository.factories import SITE, PeerRegistry

REPOSITORY_UID = "1.2.250.1.999.2.77"


@dataclass
class Running:
    url: str
    ctx: RepositoryContext
    peer: PeerRegistry
    client: XdsClient
    issuer: DevIssuer

    @property
    def endpoint(self) -> str:
        return f"{self.url}/repository"

    def auth(self) -> dict[str, str]:
        """A radiologist's ``Authorization`` header (ITI-43 needs a bearer token)."""
        return {"Authorization": f"Bearer {self.issuer.token()}"}

    def source_token(self, site: str = SITE) -> str:
        """The token of ``site``'s gateway (ITI-41 needs a site gateway's, for its own site)."""
        return self.issuer.token(f"gateway-{site}", [SITE_GATEWAY], site=site)

    def retrieve(self, request: RetrieveDocumentSetRequest) -> RetrieveDocumentSetResponse:
        """ITI-43 through the project's SOAP client, with a radiologist's token."""
        return self.client.retrieve(self.endpoint, request, self.issuer.token())

    def stored_files(self) -> list[Path]:
        root = self.ctx.settings.documents_dir()
        return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture(scope="session")
def client() -> XdsClient:
    return XdsClient(timeout=10)


@pytest.fixture
def peer() -> Iterator[tuple[PeerRegistry, BackgroundServer]]:
    registry = PeerRegistry()
    with background(registry.app()) as server:
        yield registry, server


def serve(settings: RepositorySettings, peer: PeerRegistry, client: XdsClient,
          issuer: DevIssuer) -> Iterator[Running]:
    app = create_app(settings.model_copy(update={"issuer": issuer.url}))
    with background(app) as server:
        yield Running(server.url, app.state.ctx, peer, client, issuer)


@pytest.fixture
def repository(
    database_url: str, tmp_path: Path, peer: tuple[PeerRegistry, BackgroundServer],
    client: XdsClient, issuer: DevIssuer,
) -> Iterator[Running]:
    registry, server = peer
    settings = RepositorySettings(
        database_url=database_url, data_dir=tmp_path / "repo",
        repository_unique_id=REPOSITORY_UID, registry_url=f"{server.url}/registry",
        registry_timeout=5,
    )
    yield from serve(settings, registry, client, issuer)
