"""Submissions for the ITI-42 / ITI-57 tests, made the way the NIST harness makes them
(TESTS.md, "Harness duties"): a NIST ebRIM 3.0 file with the patient ID, fresh uniqueIds, a
sourceId and ``$symbol$`` values filled in."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr

from ihe.ebrim import RegistryPackage, SubmitObjectsRequest
from ihe.ebrim.enum import Scheme
from partage.db import Database
from registry.models import Patient

PATIENT = "2801205123456^^^&1.2.250.1.213.1.4.10&ISO"
OTHER_PATIENT = "1690512345678^^^&1.2.250.1.213.1.4.10&ISO"
SOURCE_ID = "1.2.250.1.999.2.1"
UNIQUE_ID_SCHEMES = frozenset({Scheme.DE_UNIQUE_ID, Scheme.SS_UNIQUE_ID, Scheme.FOL_UNIQUE_ID})
PATIENT_ID_SCHEMES = frozenset({Scheme.DE_PATIENT_ID, Scheme.SS_PATIENT_ID, Scheme.FOL_PATIENT_ID})
_serial = itertools.count(1)


def fresh_oid() -> str:
    return f"1.2.250.1.999.3.{uuid.uuid4().int % 10**12}.{next(_serial)}"


def nist(conformance_dir: Path, relative: str, patient: str = PATIENT, *,
         assign_uids: bool = True, **symbols: str) -> SubmitObjectsRequest:
    """``nist-testkit-v3/tests/<relative>`` ready to send."""
    text = (conformance_dir / "nist-testkit-v3" / "tests" / relative).read_text("utf-8")
    for name, value in {"patientid": patient, **symbols}.items():
        text = text.replace(f"${name}$", quoteattr(value)[1:-1])
    request = SubmitObjectsRequest.from_bytes(text.encode("utf-8"))
    for obj in request.objects:
        for ident in getattr(obj, "external_identifiers", []):
            if ident.identification_scheme in UNIQUE_ID_SCHEMES and assign_uids:
                ident.value = fresh_oid()
            elif ident.identification_scheme in PATIENT_ID_SCHEMES:
                ident.value = patient
            elif ident.identification_scheme == Scheme.SS_SOURCE_ID:
                ident.value = SOURCE_ID
    return request


def submission_set(request: SubmitObjectsRequest) -> RegistryPackage:
    return next(o for o in request.objects if isinstance(o, RegistryPackage)
                and o.external_id(Scheme.SS_UNIQUE_ID) is not None)


def seed_patient(db: Database, patient_id: str = PATIENT) -> None:
    """What the identity feed would have done (ITI-8 / PIXm)."""
    with db.session() as session:
        session.add(Patient(patient_id=patient_id, active=True, updated_at=datetime.now(UTC)))
