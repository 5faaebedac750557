"""Every API the portal calls refuses what is not a valid bearer JWT of the region's issuer
(issue 4, IHE IUA, RFC 6750): the registry's ITI-18 and identity search, the repository's
ITI-43, a gateway's WADO-RS and RAD-69, all served over real HTTP on one data set, asked with
no token, another scheme, garbage, a forged signature under the issuer's key id, another
issuer's token, an expired one, one for another audience, ``alg: none`` and HS256 keyed with
the issuer's public key. Each is answered 401 with a Bearer challenge and nothing of the data;
the same request with a valid token is served."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from joserfc.jwk import RSAKey
from pydicom.uid import ExplicitVRLittleEndian

from ihe.ebrim import (
    AdhocQueryRequest,
    DocumentRequest,
    ExtrinsicObject,
    ResponseStatus,
    RetrieveDocumentSetRequest,
    Slot,
    Status,
)
from ihe.soap import Action, Envelope, Fault
from ihe.xdsi import RetrieveImagingDocumentSetRequest, SeriesRequest, StudyRequest
from partage.devissuer import DevIssuer
from partage.orthanc import Orthanc
from partage.serve import background, free_port
from partage.soap import SOAP_CONTENT_TYPE
from partage.soapclient import XdsClient
from partage.sources import REPOSITORY
from registry.core.config import RegistrySettings
from registry.main import create_app as create_registry
from repository.core.config import RepositorySettings
from repository.main import create_app as create_repository
from tests.gateway.studies import StoredStudy, make_spec, store_rest
from tests.conftest import gateway_token
from tests.repository.factories import PATIENT, SITE, pnr
from tests.support.gateway import REPOSITORY_UID, RunningGateway, running_gateway

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
FEED_TOKEN = "security-feed-token"
REPORT = b"confidential report: only token holders read this\n"


@dataclass
class World:
    """The region and one site, holding one report (registry, repository) and one study
    (gateway): what each endpoint would give away."""

    registry: str
    repository: str
    repository_unique_id: str
    gateway: RunningGateway
    document_unique_id: str
    study: StoredStudy


@pytest.fixture(scope="module")
def stranger() -> Iterator[DevIssuer]:
    """Another issuer, with keys of its own, that nobody trusts."""
    with DevIssuer.running() as running:
        yield running


@pytest.fixture(scope="module")
def world(issuer: DevIssuer, orthanc_server: Orthanc,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("security")
    orthanc_server.clear()
    study = store_rest(orthanc_server, make_spec(series_count=1, slices=1))
    registry_app = create_registry(RegistrySettings(
        data_dir=root / "registry", log_json=False, issuer=issuer.url, feed_token=FEED_TOKEN))
    with background(registry_app) as registry:
        repository_app = create_repository(RepositorySettings(
            data_dir=root / "repository", log_json=False, issuer=issuer.url,
            registry_url=f"{registry.url}/registry", client_id="repository-security",
            client_secret=issuer.register_client("repository-security", roles=[REPOSITORY])))
        with background(repository_app) as repository, running_gateway(
                orthanc_server, issuer, root / "gateway") as gateway:
            httpx.put(f"{registry.url}/identity/patients/{quote(PATIENT, safe='')}",
                      json={"family_name": "SECURITE", "identifiers": []},
                      headers={"Authorization": f"Bearer {FEED_TOKEN}"}).raise_for_status()
            request = pnr(REPORT)
            stored = XdsClient(timeout=30).provide_and_register(
                f"{repository.url}/repository", request, gateway_token(issuer, SITE))
            assert stored.status == ResponseStatus.SUCCESS, stored.errors
            entry = next(o for o in request.submission.objects if isinstance(o, ExtrinsicObject))
            yield World(f"{registry.url}/registry", f"{repository.url}/repository",
                        repository_app.state.ctx.settings.repository_unique_id, gateway,
                        entry.unique_id or "", study)


# -- the endpoints: a request, and what only a served answer contains -------------------------


def soap(url: str, action: str, body: object, headers: dict[str, str]) -> httpx.Response:
    envelope = Envelope(body=body.to_element(), action=action,  # type: ignore[attr-defined]
                        message_id="urn:uuid:5d1f3c1e-8a3b-4c55-9d0e-6f1b2a3c4d5e")
    return httpx.post(url, content=envelope.to_bytes(), timeout=60,
                      headers={"content-type": SOAP_CONTENT_TYPE, **headers})


def iti18(world: World, headers: dict[str, str]) -> httpx.Response:
    return soap(world.registry, Action.STORED_QUERY, AdhocQueryRequest(FIND_DOCUMENTS, [
        Slot("$XDSDocumentEntryPatientId", [f"'{PATIENT}'"]),
        Slot("$XDSDocumentEntryStatus", [f"('{Status.APPROVED}')"]),
    ]), headers)


def identity_search(world: World, headers: dict[str, str]) -> httpx.Response:
    base = world.registry.rsplit("/registry", 1)[0]
    return httpx.get(f"{base}/identity/patients", params={"family": "securite"},
                     headers=headers, timeout=30)


def iti43(world: World, headers: dict[str, str]) -> httpx.Response:
    return soap(world.repository, Action.RETRIEVE, RetrieveDocumentSetRequest(
        [DocumentRequest(world.repository_unique_id, world.document_unique_id)]), headers)


def wado_rs(world: World, headers: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{world.gateway.url}/wado-rs/studies/{world.study.study_instance_uid}"
                     "/metadata", headers=headers, timeout=60)


def rad69(world: World, headers: dict[str, str]) -> httpx.Response:
    ds = world.study.datasets[0]
    request = RetrieveImagingDocumentSetRequest(
        [StudyRequest(world.study.study_instance_uid, [SeriesRequest(
            str(ds.SeriesInstanceUID), [DocumentRequest(REPOSITORY_UID, str(ds.SOPInstanceUID))])])],
        [ExplicitVRLittleEndian])
    return soap(f"{world.gateway.url}/rad69", Action.RETRIEVE_IMAGING, request, headers)


@dataclass(frozen=True)
class Api:
    call: Callable[[World, dict[str, str]], httpx.Response]
    #: bytes only a served answer carries
    secret: Callable[[World], bytes]
    soap: bool


APIS = {
    "registry ITI-18": Api(iti18, lambda w: w.document_unique_id.encode(), True),
    "registry identity search": Api(identity_search, lambda w: PATIENT.encode(), False),
    "repository ITI-43": Api(iti43, lambda w: REPORT, True),
    "gateway WADO-RS": Api(wado_rs, lambda w: str(w.study.datasets[0].SOPInstanceUID).encode(),
                           False),
    "gateway RAD-69": Api(rad69, lambda w: bytes(w.study.datasets[0].PixelData)[:64], False),
}


# -- the tokens ------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, object], issuer: DevIssuer) -> str:
    now = int(time.time())
    claims = {"iss": issuer.url, "sub": "dr-martin", "aud": issuer.audience, "iat": now,
              "exp": now + 300, "roles": ["radiologist"]}
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def forged(issuer: DevIssuer, stranger: DevIssuer) -> str:
    """The issuer's claims and key id, signed by a key it never published."""
    impostor = RSAKey.generate_key(2048, parameters={"kid": issuer.keys["RSA"].kid})
    return f"Bearer {issuer.token(key=impostor)}"


def hs256(issuer: DevIssuer, stranger: DevIssuer) -> str:
    """HMAC keyed with the issuer's public key (the RS256/HS256 confusion)."""
    signing_input = unsigned({"alg": "HS256", "typ": "at+jwt", "kid": issuer.keys["RSA"].kid},
                             issuer)
    mac = hmac.new(issuer.keys["RSA"].as_pem(private=False), signing_input.encode(),
                   hashlib.sha256).digest()
    return f"Bearer {signing_input}.{b64(mac)}"


BAD_TOKENS: dict[str, Callable[[DevIssuer, DevIssuer], str | None]] = {
    "no token": lambda issuer, stranger: None,
    "basic scheme": lambda issuer, stranger: "Basic ZHItbWFydGluOnNlY3JldA==",
    "garbage": lambda issuer, stranger: "Bearer not.a.jwt",
    "forged signature": forged,
    "other issuer": lambda issuer, stranger: f"Bearer {stranger.token()}",
    "expired": lambda issuer, stranger: f"Bearer {issuer.token(exp=int(time.time()) - 600)}",
    "wrong audience": lambda issuer, stranger: f"Bearer {issuer.token(aud='another-api')}",
    "alg none": lambda issuer, stranger: "Bearer " + unsigned(
        {"alg": "none", "typ": "at+jwt", "kid": issuer.keys["RSA"].kid}, issuer) + ".",
    "HS256 with the public key": hs256,
}


@pytest.mark.parametrize("api", APIS.values(), ids=APIS.keys())
@pytest.mark.parametrize("bad", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_refused_without_a_valid_token(
    world: World, issuer: DevIssuer, stranger: DevIssuer, api: Api,
    bad: Callable[[DevIssuer, DevIssuer], str | None],
) -> None:
    authorization = bad(issuer, stranger)
    answer = api.call(world, {} if authorization is None else {"Authorization": authorization})
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert api.secret(world) not in answer.content
    if api.soap:  # IUA over SOAP: the refusal is a SOAP 1.2 Sender fault
        fault = Fault.from_element(Envelope.from_bytes(answer.content).body)
        assert fault.code == "Sender" and fault.reason


#: the writers (partage.sources): a bad token is refused before the submission is looked at
WRITERS = {
    "repository ITI-41": lambda w, h: soap(w.repository, Action.PROVIDE_AND_REGISTER,
                                           pnr(b"forged report"), h),
    "registry ITI-42": lambda w, h: soap(w.registry, Action.REGISTER,
                                         pnr(b"forged entry").submission, h),
    "registry ITI-57": lambda w, h: soap(w.registry, Action.UPDATE,
                                         pnr(b"forged update").submission, h),
}


@pytest.mark.parametrize("write", WRITERS.values(), ids=WRITERS.keys())
@pytest.mark.parametrize("bad", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_writers_refuse_without_a_valid_token(
    world: World, issuer: DevIssuer, stranger: DevIssuer,
    write: Callable[[World, dict[str, str]], httpx.Response],
    bad: Callable[[DevIssuer, DevIssuer], str | None],
) -> None:
    authorization = bad(issuer, stranger)
    answer = write(world, {} if authorization is None else {"Authorization": authorization})
    assert answer.status_code == 401, answer.text
    fault = Fault.from_element(Envelope.from_bytes(answer.content).body)
    assert fault.code == "Sender" and fault.reason


@pytest.mark.parametrize("api", APIS.values(), ids=APIS.keys())
def test_served_with_a_valid_token(world: World, issuer: DevIssuer, api: Api) -> None:
    answer = api.call(world, {"Authorization": f"Bearer {issuer.token()}"})
    assert answer.status_code == 200, answer.text
    assert api.secret(world) in answer.content


@pytest.mark.parametrize("api", [APIS["registry ITI-18"], APIS["repository ITI-43"]],
                         ids=["registry ITI-18", "repository ITI-43"])
def test_unreachable_issuer_keys_are_a_503_fault(world: World, issuer: DevIssuer,
                                                 tmp_path: Path, api: Api) -> None:
    """A registry and a repository trusting an issuer whose JWKS cannot be read."""
    gone = f"http://127.0.0.1:{free_port()}"
    registry = create_registry(RegistrySettings(data_dir=tmp_path / "r", log_json=False,
                                                issuer=gone))
    repository = create_repository(RepositorySettings(data_dir=tmp_path / "d", log_json=False,
                                                      issuer=gone))
    with background(registry) as r, background(repository) as d:
        cut_off = World(f"{r.url}/registry", f"{d.url}/repository", world.repository_unique_id,
                        world.gateway, world.document_unique_id, world.study)
        answer = api.call(cut_off, {"Authorization": f"Bearer {issuer.token(iss=gone)}"})
    assert answer.status_code == 503 and answer.headers["retry-after"]
    assert Fault.from_element(Envelope.from_bytes(answer.content).body).code == "Receiver"


# -- who may read patient identities ---------------------------------------------------------


@pytest.mark.parametrize(("roles", "status"), [
    (["patient"], 403), (["radiologist"], 200), (["physician"], 200), (["service"], 200),
    (["patient", "physician"], 200),
])
def test_a_patient_token_may_not_read_patients(world: World, issuer: DevIssuer,
                                              roles: list[str], status: int) -> None:
    headers = {"Authorization": f"Bearer {issuer.token('someone', roles)}"}
    base = world.registry.rsplit("/registry", 1)[0]
    search = identity_search(world, headers)
    one = httpx.get(f"{base}/identity/patients/{quote(PATIENT, safe='')}", headers=headers)
    for answer in (search, one):
        assert answer.status_code == status, answer.text
    if status == 403:
        assert search.headers["content-type"] == "application/problem+json"
        assert PATIENT.encode() not in search.content + one.content
    sites = httpx.get(f"{base}/identity/sites", headers=headers)
    assert sites.status_code == 200  # the site directory is no patient's data
