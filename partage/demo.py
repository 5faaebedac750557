"""The local region on embedded defaults: registry and repository on fixed loopback ports,
SQLite and document files under one folder, demo patients fed through the identity feed, and a
sample submission that is then found and retrieved, so a newcomer sees the whole path work.
"""

from __future__ import annotations

import hashlib
import signal
import sys
import threading
import uuid
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
from partage.serve import BackgroundServer

INS_AUTHORITY = "1.2.250.1.213.1.4.10"  # test INS (DESIGN.md, Identifiers)
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"


@dataclass(frozen=True)
class DemoPatient:
    ins: str
    family: str
    given: str
    birth_date: str
    sex: str
    site_authority: str
    local_id: str

    @property
    def cx(self) -> str:
        return f"{self.ins}^^^&{INS_AUTHORITY}&ISO"


SITE_A = ("1.2.250.1.999.1.1", "CHU Nord")
SITE_B = ("1.2.250.1.999.1.2", "Centre d'imagerie Sud")
PATIENTS = [
    DemoPatient("2801205123456", "MARTIN", "Claire", "19801205", "F", SITE_A[0], "IPP-A-1001"),
    DemoPatient("1750399123457", "DURAND", "Paul", "19750312", "M", SITE_B[0], "IPP-B-2001"),
    DemoPatient("2620875123458", "PETIT", "Jeanne", "19620827", "F", SITE_A[0], "IPP-A-1002"),
]
PORTS = {"registry": 8010, "repository": 8020, "mllp": 2575}


def _oid() -> str:
    """A unique OID under the UUID arc (ITU-T X.667), for demo uniqueIds."""
    return f"2.25.{uuid.uuid4().int}"


def _step(message: str) -> None:
    sys.stderr.write(f"  • {message}\n")
    sys.stderr.flush()


def feed_patients(registry: str, token: str) -> None:
    with httpx.Client(base_url=registry, headers={"Authorization": f"Bearer {token}"}) as http:
        for i, p in enumerate(PATIENTS, 1):
            http.put(
                f"/identity/patients/{quote(p.cx, safe='')}",
                json={
                    "family_name": p.family, "given_name": p.given, "birth_date": p.birth_date,
                    "sex": p.sex, "identifiers": [{"authority": p.site_authority, "local_id": p.local_id}],
                },
            ).raise_for_status()
            _step(f"patient {i}/{len(PATIENTS)}: {p.family} {p.given} ({p.cx})")


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
        source_patient_id=f"{patient.local_id}^^^&{patient.site_authority}&ISO",
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
        entry_uuid="SubmissionSet01", unique_id=_oid(), source_id=SITE_A[0],
        patient_id=patient.cx, submission_time=now,
        content_type_code=Code("18748-4", "2.16.840.1.113883.6.1", "Diagnostic imaging study"),
        authors=[Author(institutions=("CHU Nord",))],
    )
    return ProvideAndRegisterDocumentSetRequest(submission(ss, [entry]), [Document("Document01", report)])


def exercise(registry_url: str, repository_url: str, repository_unique_id: str) -> None:
    """Submit a sample report, find it with ITI-18, retrieve it with ITI-43; raise if any step
    does not do what the profile says."""
    patient = PATIENTS[0]
    request = sample_submission(patient)
    answer = soapclient.provide_and_register(f"{repository_url}/repository", request)
    if answer.status != ResponseStatus.SUCCESS:
        raise RuntimeError(f"ITI-41 failed: {[(e.code, e.context) for e in answer.errors]}")
    _step("ITI-41 Provide and Register: sample report stored and registered")
    query = AdhocQueryRequest(
        FIND_DOCUMENTS,
        [Slot("$XDSDocumentEntryPatientId", [f"'{patient.cx}'"]),
         Slot("$XDSDocumentEntryStatus", [f"('{Status.APPROVED}')"])],
    )
    found = soapclient.stored_query(f"{registry_url}/registry", query)
    entries = [o for o in found.objects if isinstance(o, ExtrinsicObject)]
    if found.status != ResponseStatus.SUCCESS or not entries:
        raise RuntimeError(f"ITI-18 found nothing: {found.status}")
    _step(f"ITI-18 FindDocuments: {len(entries)} document(s) for {patient.family} {patient.given}")
    entry = entries[-1]
    retrieved = soapclient.retrieve(
        f"{repository_url}/repository",
        RetrieveDocumentSetRequest([DocumentRequest(repository_unique_id, entry.unique_id or "")]),
    )
    data = retrieved.documents[0].data if retrieved.documents else b""
    if hashlib.sha1(data).hexdigest() != entry.slot_value("hash"):
        raise RuntimeError("ITI-43 returned bytes whose SHA-1 differs from the registered hash")
    _step(f"ITI-43 Retrieve: {len(data)} bytes, SHA-1 matches the registry")


def main(data_dir: Path, once: bool = False, ports: dict[str, int] | None = None) -> int:
    from registry.core.config import RegistrySettings
    from registry.main import create_app as registry_app
    from repository.core.config import RepositorySettings
    from repository.main import create_app as repository_app

    ports = ports or PORTS
    data_dir = data_dir.resolve()
    registry_settings = RegistrySettings(
        data_dir=data_dir / "registry", port=ports["registry"], mllp_port=ports["mllp"]
    )
    registry = BackgroundServer(registry_app(registry_settings), port=ports["registry"]).start()
    repository_settings = RepositorySettings(
        data_dir=data_dir / "repository", port=ports["repository"],
        registry_url=f"{registry.url}/registry",
    )
    repository = BackgroundServer(repository_app(repository_settings), port=ports["repository"]).start()
    sys.stderr.write(f"Partage demo region (data in {data_dir})\n")
    try:
        feed_patients(registry.url, registry_settings.feed_token)
        exercise(registry.url, repository.url, repository_settings.repository_unique_id)
        sys.stderr.write(
            "\nRegion is up:\n"
            f"  registry    {registry.url}/registry  (ITI-42, ITI-18, ITI-57)\n"
            f"  identity    {registry.url}/identity/patients  (REST feed)\n"
            f"  HL7v2 ADT   MLLP 127.0.0.1:{ports['mllp']}\n"
            f"  repository  {repository.url}/repository  (ITI-41, ITI-43)\n"
        )
        if once:
            return 0
        sys.stderr.write("Press Ctrl-C to stop.\n")
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        stop.wait()
        return 0
    finally:
        repository.stop()
        registry.stop()
