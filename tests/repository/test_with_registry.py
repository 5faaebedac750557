"""The repository in front of the real registry (registry.main), both over HTTP: a submission
is registered with the repository's hash, size and repositoryUniqueId and found with ITI-18; a
registry refusal is relayed and leaves no bytes behind."""

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
from registry.core.config import RegistrySettings
from registry.main import create_app as registry_app
from repository.core.config import RepositorySettings
from tests.repository.conftest import REPOSITORY_UID, Running, serve
from tests.repository.factories import PATIENT, PeerRegistry, pnr

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
        repo_settings = RepositorySettings(
            database_url=database_url, data_dir=tmp_path / "repo",
            repository_unique_id=REPOSITORY_UID, registry_url=f"{registry.url}/registry")
        for running in serve(repo_settings, PeerRegistry(), client, issuer):
            yield running, f"{registry.url}/registry"


def test_submission_is_registered_with_the_repository_values(region: tuple[Running, str]) -> None:
    running, registry_url = region
    request = pnr(b"registered report\n")
    response = running.client.provide_and_register(running.endpoint, request)
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
    response = running.client.provide_and_register(running.endpoint, request)
    assert response.status == ResponseStatus.FAILURE
    assert "XDSUnknownPatientId" in [e.code for e in response.errors]
    assert running.stored_files() == []
