"""The local region on embedded defaults: a development token issuer, the registry and the
repository, and two imaging sites (an Orthanc PACS plus a gateway each) on fixed loopback ports,
SQLite, document files and PACS storage under one folder. Demo patients are fed through the
identity feed with their local IDs at each site, a sample report walks ITI-41 → ITI-18 → ITI-43,
synthetic studies (current and priors) are loaded into the sites' PACS, and the gateways publish
them (RAD-68), so a newcomer sees the whole path work.
"""

from __future__ import annotations

import hashlib
import signal
import sys
import threading
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx

from ihe.ebrim import (
    AdhocQueryRequest,
    Document,
    DocumentRequest,
    ExtrinsicObject,
    ProvideAndRegisterDocumentSetRequest,
    ResponseStatus,
    RetrieveDocumentSetRequest,
    Slot,
    Status,
)
from ihe.ebrim.builders import (
    Author,
    Code,
    DocumentEntryMetadata,
    SubmissionSetMetadata,
    submission,
)
from partage import soapclient
from partage.demo_sites import (
    SITES,
    STUDIES,
    DemoSite,
    gateway_settings,
    load,
    orthanc_for,
    site_studies,
    spec_of,
    wait_published,
)
from partage.devissuer import DevIssuer
from partage.serve import BackgroundServer
from partage.studies import Patient

INS_AUTHORITY = "1.2.250.1.213.1.4.10"
REFERENCE_ID_SLOT = "urn:ihe:iti:xds:2013:referenceIdList"
ACCESSION_TYPE = "urn:ihe:iti:xds:2013:accession"  # test INS (DESIGN.md, Identifiers)
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"


@dataclass(frozen=True)
class DemoPatient:
    ins: str
    family: str
    given: str
    birth_date: str
    sex: str
    #: (site key, local patient ID at that site)
    local_ids: tuple[tuple[str, str], ...]

    @property
    def cx(self) -> str:
        return f"{self.ins}^^^&{INS_AUTHORITY}&ISO"

    def local_id(self, site: DemoSite) -> str:
        return dict(self.local_ids)[site.key]

    def at(self, site: DemoSite) -> Patient:
        """The patient as the site's PACS knows them (DICOM PN, local ID and its issuer)."""
        return Patient(self.local_id(site), f"{self.family}^{self.given}", self.birth_date,
                       self.sex, issuer=site.local_authority)


SITE_A, SITE_B = SITES
PATIENTS = [
    DemoPatient("2801205123456", "MARTIN", "Claire", "19801205", "F",
                (("a", "IPP-A-1001"), ("b", "CIS-30017"))),
    DemoPatient("1750399123457", "DURAND", "Paul", "19750312", "M",
                (("a", "IPP-A-1003"), ("b", "CIS-20001"))),
    DemoPatient("2620875123458", "PETIT", "Jeanne", "19620827", "F",
                (("a", "IPP-A-1002"), ("b", "CIS-20588"))),
    DemoPatient("1481175123459", "BERNARD", "Louis", "19481102", "M", (("b", "CIS-11452"),)),
]
#: fixed loopback ports (README, "demo"); tests pass free ones
PORTS = {
    "issuer": 8000, "registry": 8010, "repository": 8020, "mllp": 2575,
    "a_gateway": 8030, "a_gateway_dicom": 11112, "a_pacs_http": 8042, "a_pacs_dicom": 4242,
    "b_gateway": 8031, "b_gateway_dicom": 11113, "b_pacs_http": 8043, "b_pacs_dicom": 4243,
}
#: how each site's gateway talks to its PACS
ADAPTERS = {"dimse": "DIMSE (C-FIND, C-GET)", "dicomweb": "DICOMweb (QIDO-RS, WADO-RS)"}
#: lifetime of the demo tokens written to the data folder
TOKEN_LIFETIME_S = 12 * 3600


def _oid() -> str:
    """A unique OID under the UUID arc (ITU-T X.667), for demo uniqueIds."""
    return f"2.25.{uuid.uuid4().int}"


def _step(message: str) -> None:
    sys.stderr.write(f"  • {message}\n")
    sys.stderr.flush()


def feed_patients(registry: str, token: str) -> None:
    """Each patient's regional ID with their local IDs at each site (the cross-reference the
    gateways ask before publishing)."""
    sites = {site.key: site for site in SITES}
    with httpx.Client(base_url=registry, headers={"Authorization": f"Bearer {token}"}) as http:
        for i, p in enumerate(PATIENTS, 1):
            http.put(
                f"/identity/patients/{quote(p.cx, safe='')}",
                json={
                    "family_name": p.family, "given_name": p.given, "birth_date": p.birth_date,
                    "sex": p.sex, "identifiers": [
                        {"authority": sites[key].local_authority, "local_id": local_id}
                        for key, local_id in p.local_ids
                    ],
                },
            ).raise_for_status()
            where = ", ".join(f"{local_id} at {sites[key].name}" for key, local_id in p.local_ids)
            _step(f"patient {i}/{len(PATIENTS)}: {p.family} {p.given} ({p.cx}; {where})")


def register_sites(registry: str, token: str, gateways: dict[str, str]) -> None:
    """The sites in the region's directory: gateway repositoryUniqueId, RAD-69, WADO-RS."""
    with httpx.Client(base_url=registry, headers={"Authorization": f"Bearer {token}"}) as http:
        for site in SITES:
            url = gateways[site.key]
            http.put(f"/identity/sites/{site.oid}", json={
                "name": site.name, "repository_unique_id": site.repository_unique_id,
                "rad69_url": f"{url}/rad69", "wado_rs_url": f"{url}/wado-rs",
            }).raise_for_status()


def sample_submission(patient: DemoPatient) -> ProvideAndRegisterDocumentSetRequest:
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    report = (
        f"CHU Nord — Service d'imagerie\nScanner thoracique du {now[:8]}\n"
        f"Patient : {patient.family} {patient.given}\nConclusion : pas d'anomalie évolutive.\n"
    ).encode()
    entry = DocumentEntryMetadata(
        entry_uuid="Document01",
        unique_id=_oid(),
        patient_id=patient.cx,
        source_patient_id=f"{patient.local_id(SITE_A)}^^^&{SITE_A.local_authority}&ISO",
        class_code=Code("REPORTS", "1.3.6.1.4.1.19376.1.2.6.1", "Reports"),
        type_code=Code("18748-4", "2.16.840.1.113883.6.1", "Diagnostic imaging study"),
        format_code=Code("urn:ihe:rad:TEXT", "1.3.6.1.4.1.19376.1.2.3", "Radiology report text"),
        confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25", "Normal")],
        healthcare_facility_type_code=Code("SA01", "1.2.250.1.71.4.2.4", "Centre hospitalier"),
        practice_setting_code=Code("394914008", "2.16.840.1.113883.6.96", "Radiology"),
        creation_time=now,
        mime_type="text/plain",
        title="Compte rendu de scanner thoracique",
        event_codes=[Code("CT", "DCM", "Computed Tomography")],
        service_start_time=now[:12],
        reference_ids=[f"ACC-{now}^^^^urn:ihe:iti:xds:2013:accession"],
        authors=[Author(person="^LEROY^Marc^^^Dr", institutions=("CHU Nord",))],
    )
    ss = SubmissionSetMetadata(
        entry_uuid="SubmissionSet01", unique_id=_oid(), source_id=SITE_A.oid,
        patient_id=patient.cx, submission_time=now,
        content_type_code=Code("18748-4", "2.16.840.1.113883.6.1", "Diagnostic imaging study"),
        authors=[Author(institutions=("CHU Nord",))],
    )
    return ProvideAndRegisterDocumentSetRequest(submission(ss, [entry]),
                                                [Document("Document01", report)])


def find_documents(registry_url: str, patient: DemoPatient, token: str) -> list[ExtrinsicObject]:
    """The patient's Approved DocumentEntries (ITI-18 FindDocuments with the caller's
    ``token``); raise on a failure."""
    query = AdhocQueryRequest(
        FIND_DOCUMENTS,
        [Slot("$XDSDocumentEntryPatientId", [f"'{patient.cx}'"]),
         Slot("$XDSDocumentEntryStatus", [f"('{Status.APPROVED}')"])],
    )
    found = soapclient.stored_query(f"{registry_url}/registry", query, token=token)
    if found.status != ResponseStatus.SUCCESS:
        raise RuntimeError(f"ITI-18 failed: {[(e.code, e.context) for e in found.errors]}")
    return [o for o in found.objects if isinstance(o, ExtrinsicObject)]


def check_imaging(registry_url: str, token: str) -> None:
    """Every patient's studies are found once each, whichever site holds them (the KOS
    manifests the gateways published); raise otherwise."""
    for i, patient in enumerate(PATIENTS):
        kos = [e for e in find_documents(registry_url, patient, token)
               if e.mime_type == "application/dicom"]
        accessions = sorted(
            v.split("^")[0] for e in kos for v in e.slot_values(REFERENCE_ID_SLOT)
            if v.endswith(ACCESSION_TYPE)
        )
        expected = sorted(s.accession_number for s in STUDIES if s.patient == i)
        if accessions != expected:
            raise RuntimeError(f"ITI-18 for {patient.cx}: studies {accessions}, not {expected}")
        sites = sorted({s.site for s in STUDIES if s.patient == i})
        _step(f"ITI-18 FindDocuments: {patient.family} {patient.given}, {len(kos)} imaging "
              f"studies from {len(sites)} site(s)")


def exercise(registry_url: str, repository_url: str, repository_unique_id: str,
             token: str) -> None:
    """Submit a sample report, find it with ITI-18, retrieve it with ITI-43 (both with the
    caller's ``token``); raise if any step does not do what the profile says."""
    patient = PATIENTS[0]
    request = sample_submission(patient)
    answer = soapclient.provide_and_register(f"{repository_url}/repository", request)
    if answer.status != ResponseStatus.SUCCESS:
        raise RuntimeError(f"ITI-41 failed: {[(e.code, e.context) for e in answer.errors]}")
    _step("ITI-41 Provide and Register: sample report stored and registered")
    entries = [e for e in find_documents(registry_url, patient, token)
               if e.mime_type == "text/plain"]
    if not entries:
        raise RuntimeError("ITI-18 found no report")
    _step(f"ITI-18 FindDocuments: {len(entries)} report(s) for {patient.family} {patient.given}")
    entry = entries[-1]
    retrieved = soapclient.retrieve(
        f"{repository_url}/repository",
        RetrieveDocumentSetRequest([DocumentRequest(repository_unique_id, entry.unique_id or "")]),
        token=token,
    )
    data = retrieved.documents[0].data if retrieved.documents else b""
    if hashlib.sha1(data).hexdigest() != entry.slot_value("hash"):
        raise RuntimeError("ITI-43 returned bytes whose SHA-1 differs from the registered hash")
    _step(f"ITI-43 Retrieve: {len(data)} bytes, SHA-1 matches the registry")


def main(data_dir: Path, once: bool = False, ports: dict[str, int] | None = None) -> int:
    from gateway.main import create_app as gateway_app
    from registry.core.config import RegistrySettings
    from registry.main import create_app as registry_app
    from repository.core.config import RepositorySettings
    from repository.main import create_app as repository_app

    ports = {**PORTS, **(ports or {})}
    data_dir = data_dir.resolve()
    with ExitStack() as running:
        issuer = DevIssuer().start(ports["issuer"])
        running.callback(issuer.stop)
        registry_settings = RegistrySettings(
            data_dir=data_dir / "registry", port=ports["registry"], mllp_port=ports["mllp"],
            issuer=issuer.url,
        )
        registry = BackgroundServer(registry_app(registry_settings), port=ports["registry"]).start()
        running.callback(registry.stop)
        repository_settings = RepositorySettings(
            data_dir=data_dir / "repository", port=ports["repository"],
            registry_url=f"{registry.url}/registry", issuer=issuer.url,
        )
        repository = BackgroundServer(repository_app(repository_settings),
                                      port=ports["repository"]).start()
        running.callback(repository.stop)
        sys.stderr.write(f"Partage demo region (data in {data_dir})\n")
        feed_token = registry_settings.feed_token
        # the demo's own ITI-18 / ITI-43 checks, as a consumer with a token of the issuer
        reader = issuer.token("partage-demo", ["service"], lifetime_s=TOKEN_LIFETIME_S)
        feed_patients(registry.url, feed_token)
        exercise(registry.url, repository.url, repository_settings.repository_unique_id, reader)

        gateways = {s.key: f"http://127.0.0.1:{ports[f'{s.key}_gateway']}" for s in SITES}
        register_sites(registry.url, feed_token, gateways)
        for site in SITES:
            folder = data_dir / "sites" / site.key
            orthanc = orthanc_for(site, folder / "pacs", ports).start()
            running.callback(orthanc.stop)
            specs = [spec_of(study, PATIENTS[study.patient].at(site), site)
                     for study in site_studies(site)]
            loaded = load(orthanc, site, specs)
            _step(f"{site.name}: {loaded} new of {len(specs)} studies in its PACS")
            client_id = f"gateway-{site.key}"  # the gateway's own tokens: client credentials
            settings = gateway_settings(
                site, folder / "gateway", ports, registry=registry.url,
                repository=repository.url, issuer=issuer.url,
            ).model_copy(update={"client_id": client_id, "client_secret": issuer.register_client(
                client_id, roles=["service"], organisation=site.oid)})
            gateway = BackgroundServer(gateway_app(settings), port=settings.port).start()
            running.callback(gateway.stop)  # its sweep at start publishes the site's studies

        tokens = write_tokens(issuer, data_dir)
        published = {
            site.key: wait_published(gateways[site.key], tokens["site-admin"].read_text(),
                                     expected=len(list(site_studies(site))))
            for site in SITES
        }
        check_imaging(registry.url, reader)
        sys.stderr.write(summary(issuer.url, registry.url, repository.url, ports, gateways,
                                 published, tokens))
        if once:
            return 0
        sys.stderr.write("Press Ctrl-C to stop.\n")
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
        return 0


def write_tokens(issuer: DevIssuer, data_dir: Path) -> dict[str, Path]:
    """A radiologist's and a site administrator's access tokens, as files of the data folder."""
    minted = {
        "radiologist": issuer.token("dr-leroy", ["radiologist"], rpps="10003456789",
                                    name="Dr Marc LEROY", organisation=SITE_B.oid,
                                    purpose_of_use="TREAT", lifetime_s=TOKEN_LIFETIME_S),
        "site-admin": issuer.token("it-admin", ["site-admin"], name="Site IT",
                                   lifetime_s=TOKEN_LIFETIME_S),
    }
    paths = {}
    for role, token in minted.items():
        paths[role] = data_dir / f"{role}.token"
        paths[role].write_text(token)
    return paths


def summary(issuer: str, registry: str, repository: str, ports: dict[str, int],
            gateways: dict[str, str], published: dict[str, dict[str, int]],
            tokens: dict[str, Path]) -> str:
    lines = [
        "", "Region is up:",
        f"  token issuer {issuer}  (development: discovery, JWKS; tokens below)",
        f"  registry    {registry}/registry  (ITI-42, ITI-18, ITI-57)",
        f"  identity    {registry}/identity/patients  (REST feed; /identity/sites directory)",
        f"  HL7v2 ADT   MLLP 127.0.0.1:{ports['mllp']}",
        f"  repository  {repository}/repository  (ITI-41, ITI-43)",
        "", "Sites:",
    ]
    for site in SITES:
        counts = published[site.key]
        others = ", ".join(f"{n} {state}" for state, n in sorted(counts.items())
                           if state != "published" and n)
        url = gateways[site.key]
        lines += [
            f"  {site.name} ({site.oid}): {counts.get('published', 0)} studies published"
            + (f" ({others})" if others else ""),
            f"    gateway   {url}  WADO-RS {url}/wado-rs, RAD-69 {url}/rad69, WADO-URI "
            f"{url}/wado, status {url}/status",
            f"              PACS over {ADAPTERS[site.adapter]}; C-STORE SCP "
            f"{site.gateway_ae_title} @ 127.0.0.1:{ports[f'{site.key}_gateway_dicom']}",
            f"    PACS      Orthanc http://127.0.0.1:{ports[f'{site.key}_pacs_http']}"
            f"  DICOM {site.pacs_ae_title} @ 127.0.0.1:{ports[f'{site.key}_pacs_dicom']}",
        ]
    lines += [
        "", f"Tokens (valid {TOKEN_LIFETIME_S // 3600} h): {tokens['radiologist']}, "
            f"{tokens['site-admin']}",
        f"  curl -H \"Authorization: Bearer $(cat {tokens['site-admin']})\" "
        f"{gateways[SITE_A.key]}/status.json",
        f"  curl -H \"Authorization: Bearer $(cat {tokens['radiologist']})\" "
        f"{gateways[SITE_B.key]}/wado-rs/studies/<StudyInstanceUID>/metadata",
        "",
    ]
    return "\n".join(lines)
