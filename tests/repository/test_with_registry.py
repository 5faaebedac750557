"""The repository in front of the real registry (registry.main), both over HTTP: a submission
is registered with the repository's hash, size and repositoryUniqueId and found with ITI-18; a
registry refusal is relayed and leaves no bytes behind. ITI-42 goes with the repository's own
client-credentials token (role ``repository``): the registry refuses writers without one."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from ihe.ebrim import AdhocQueryRequest, ExtrinsicObject, ResponseStatus, Slot
from partage.devissuer import DevIssuer
from partage.serve import background
from partage.soapclient import XdsClient
from partage.sources import REPOSITORY
from registry.core.config import RegistrySettings
from registry.main import create_app as registry_app
from repository.core.config import RepositorySettings
from tests.repository.conftest import REPOSITORY_UID, Running, serve
from tests.repository.factories import PATIENT, SITE, PeerRegistry, pnr

GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"


@pytest.fixture
def region(database_url: str, tmp_path: Path, client: XdsClient, issuer: DevIssuer
           ) -> Iterator[tuple[Running, str]]:
    settings = RegistrySettings(data_dir=tmp_path / "registry", feed_token="t0ken",
                                issuer=issuer.url)
    with background(registry_app(settings)) as registry:
        httpx.put(
            f"{registry.url}/identity/patients/{quote(PATIENT, safe='')}",
            json={"family_name": "MARTIN", "given_name": "Claire", "birth_date": "19801205",
                  "sex": "F", "identifiers": []},
            headers={"Authorization": "Bearer t0ken"},
        ).raise_for_status()
        secret = issuer.register_client("repository", roles=[REPOSITORY])
        repo_settings = RepositorySettings(
            database_url=database_url, data_dir=tmp_path / "repo",
            repository_unique_id=REPOSITORY_UID, registry_url=f"{registry.url}/registry",
            client_id="repository", client_secret=secret)
        for running in serve(repo_settings, PeerRegistry(), client, issuer):
            yield running, f"{registry.url}/registry"


def test_submission_is_registered_with_the_repository_values(region: tuple[Running, str]) -> None:
    running, registry_url = region
    request = pnr(b"registered report\n")
    response = running.client.provide_and_register(running.endpoint, request,
                                                   running.source_token())
    assert response.status == ResponseStatus.SUCCESS, response.errors

    uid = next(o for o in request.submission.objects if isinstance(o, ExtrinsicObject)).unique_id
    found = running.client.stored_query(registry_url, AdhocQueryRequest(
        GET_DOCUMENTS, [Slot("$XDSDocumentEntryUniqueId", [f"('{uid}')"])]), running.issuer.token())
    (entry,) = [o for o in found.objects if isinstance(o, ExtrinsicObject)]
    assert entry.slot_values("repositoryUniqueId") == [REPOSITORY_UID]
    assert entry.slot_values("size") == ["18"]
    assert entry.slot_values("hash") == [hashlib.sha1(b"registered report\n").hexdigest()]


def test_registry_refusal_is_relayed_and_nothing_is_kept(region: tuple[Running, str]) -> None:
    running, _ = region
    request = pnr(b"unknown patient")
    for obj in request.submission.objects:
        for ident in getattr(obj, "external_identifiers", []):
            if ident.value == PATIENT:
                ident.value = "999^^^&1.2.250.1.213.1.4.10&ISO"
    response = running.client.provide_and_register(running.endpoint, request,
                                                   running.source_token())
    assert response.status == ResponseStatus.FAILURE
    assert "XDSUnknownPatientId" in [e.code for e in response.errors]
    assert running.stored_files() == []


def test_a_suspended_site_is_refused_and_nothing_is_kept(region: tuple[Running, str]) -> None:
    running, registry_url = region
    httpx.put(f"{registry_url.removesuffix('/registry')}/identity/sites/{SITE}",
              json={"name": "CHU Nord", "repository_unique_id": "1.2.250.1.999.3.2",
                    "active": False},
              headers={"Authorization": "Bearer t0ken"}).raise_for_status()
    response = running.client.provide_and_register(running.endpoint, pnr(b"suspended"),
                                                   running.source_token())
    assert [(e.code, e.context) for e in response.errors] == [
        ("XDSRegistryError", f"site {SITE} is suspended in the site directory")]
    assert running.stored_files() == []


def test_without_its_own_token_the_repository_cannot_register(
        region: tuple[Running, str], tmp_path: Path, database_url: str, client: XdsClient,
        issuer: DevIssuer) -> None:
    running, registry_url = region
    settings = running.ctx.settings.model_copy(update={
        "client_id": "", "data_dir": tmp_path / "tokenless",
        "database_url": database_url.replace("test.sqlite", "tokenless.sqlite")})
    for tokenless in serve(settings, PeerRegistry(), client, issuer):
        response = client.provide_and_register(tokenless.endpoint, pnr(b"no token"),
                                               tokenless.source_token())
        assert [(e.code, e.context) for e in response.errors] == [(
            "XDSRegistryError", "the registry did not accept the request: a bearer token is "
                                "required")]
        assert tokenless.stored_files() == []
