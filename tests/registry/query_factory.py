"""Registry content for the stored-query tests, written straight into the tables as the storage
contract of ``registry.crud`` describes them (one ``registry_objects`` row per object, XML
without status, padded DTM columns, ``object_codes`` rows), so the queries are tested without
the ITI-42 code path."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree
from sqlalchemy.orm import Session

import registry
from ihe.ebrim import (
    AdhocQueryRequest,
    Association,
    AssociationType,
    Classification,
    ExternalIdentifier,
    ObjectType,
    RegistryPackage,
    Scheme,
    Slot,
    Status,
)
from ihe.ebrim.builders import (
    Author,
    Code,
    DocumentEntryMetadata,
    SubmissionSetMetadata,
    document_entry,
    submission_set,
)
from ihe.ebrim.dtm import pad
from ihe.ebrim.enum import Node
from partage.db import Database, migrate
from registry.models import ObjectCode, RegistryObjectRow
from registry.queries import QUERY_IDS

ALEMBIC_DIR = Path(registry.__file__).parent / "alembic"
PATIENT = "2801205123456^^^&1.2.250.1.213.1.4.10&ISO"
OTHER = "1690512345678^^^&1.2.250.1.213.1.4.10&ISO"
LOINC = "2.16.840.1.113883.6.1"
DCM = "1.2.840.10008.2.16.4"
_serial = itertools.count(1)


def database(url: str) -> Database:
    db = Database(url)
    migrate(db.engine, ALEMBIC_DIR)
    return db


def new_uuid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def new_oid() -> str:
    return f"1.2.250.1.999.4.{next(_serial)}"


def query(name: str, return_type: str = "ObjectRef", **params: str | list[str]) -> AdhocQueryRequest:
    """``query("FindDocuments", XDSDocumentEntryPatientId="'…'")``: each keyword is one Slot
    (``$`` added); a list value gives several ``Value`` elements of that Slot."""
    slots = [
        Slot(f"${name_}", value if isinstance(value, list) else [value])
        for name_, value in params.items()
    ]
    return AdhocQueryRequest(QUERY_IDS[name], slots, return_type=return_type)


def with_slots(request: AdhocQueryRequest, *pairs: tuple[str, str]) -> AdhocQueryRequest:
    """Add Slots (``$`` added) that may repeat a name, as AND/OR parameters do."""
    request.parameters += [Slot(f"${name}", [value]) for name, value in pairs]
    return request


def quoted(*values: str) -> str:
    """``('a','b')`` with quotes doubled."""
    return "(" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


@dataclass
class Doc:
    patient: str = PATIENT
    status: str = Status.APPROVED
    class_code: Code = Code("REPORTS", "1.3.6.1.4.1.19376.1.2.6.1", "Reports")
    type_code: Code = Code("18748-4", LOINC, "Diagnostic imaging study")
    format_code: Code = Code("1.2.840.10008.5.1.4.1.1.88.59", "1.2.840.10008.2.6.1", "KOS")
    practice_setting: Code = Code("R", "1.2.250.1.213.1.1.4.9", "Radiology")
    facility_type: Code = Code("HOSP", "1.2.250.1.213.1.1.4.9", "Hospital")
    confidentiality: list[Code] = field(
        default_factory=lambda: [Code("N", "2.16.840.1.113883.5.25", "normal")]
    )
    events: list[Code] = field(default_factory=list)
    creation_time: str = "20240101120000"
    service_start: str | None = None
    service_stop: str | None = None
    authors: list[str] = field(default_factory=list)
    reference_ids: list[str] = field(default_factory=list)
    object_type: str = ObjectType.STABLE_DOCUMENT
    unique_id: str = field(default_factory=new_oid)


class Registry:
    """Writes DocumentEntries, SubmissionSets, Folders and Associations as registry rows."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _row(self, obj: object, kind: str, status: str, codes: list[tuple[str, str, str]],
             **columns: object) -> None:
        obj.status = None  # type: ignore[attr-defined]
        xml = etree.tostring(obj.to_element(), encoding="utf-8").decode()  # type: ignore[attr-defined]
        row = RegistryObjectRow(
            entry_uuid=obj.id, kind=kind, status=status, xml=xml,  # type: ignore[attr-defined]
            logical_id=obj.id, **columns,  # type: ignore[attr-defined]
        )
        self.session.add(row)
        self.session.flush()
        self.session.add_all(
            ObjectCode(object_id=row.id, attribute=a, code=c, scheme=s) for a, c, s in codes
        )
        self.session.flush()

    def document(self, doc: Doc | None = None, **changes: object) -> str:
        doc = doc or Doc(**changes)  # type: ignore[arg-type]
        entry_uuid = new_uuid()
        obj = document_entry(
            DocumentEntryMetadata(
                entry_uuid=entry_uuid,
                unique_id=doc.unique_id,
                patient_id=doc.patient,
                source_patient_id="123^^^&1.2.250.1.999.9&ISO",
                class_code=doc.class_code,
                type_code=doc.type_code,
                format_code=doc.format_code,
                confidentiality_codes=doc.confidentiality,
                healthcare_facility_type_code=doc.facility_type,
                practice_setting_code=doc.practice_setting,
                creation_time=doc.creation_time,
                mime_type="application/dicom",
                event_codes=doc.events,
                service_start_time=doc.service_start,
                service_stop_time=doc.service_stop,
                reference_ids=doc.reference_ids,
                authors=[Author(person=a) for a in doc.authors],
                hash="da39a3ee5e6b4b0d3255bfef95601890afd80709",
                size=0,
                repository_unique_id="1.2.250.1.999.5",
            )
        )
        obj.object_type = doc.object_type
        codes = [
            ("classCode", doc.class_code.code, doc.class_code.scheme),
            ("typeCode", doc.type_code.code, doc.type_code.scheme),
            ("formatCode", doc.format_code.code, doc.format_code.scheme),
            ("practiceSettingCode", doc.practice_setting.code, doc.practice_setting.scheme),
            ("healthcareFacilityTypeCode", doc.facility_type.code, doc.facility_type.scheme),
            *(("confidentialityCode", c.code, c.scheme) for c in doc.confidentiality),
            *(("eventCode", c.code, c.scheme) for c in doc.events),
            *(("authorPerson", a, "") for a in doc.authors),
            *(("referenceId", r, "") for r in doc.reference_ids),
        ]
        self._row(
            obj, "doc", doc.status, codes,
            unique_id=doc.unique_id, patient_id=doc.patient, object_type=doc.object_type,
            mime_type="application/dicom",
            creation_time=pad(doc.creation_time),
            service_start_time=pad(doc.service_start) if doc.service_start else None,
            service_stop_time=pad(doc.service_stop) if doc.service_stop else None,
        )
        return entry_uuid

    def submission_set(
        self, members: list[str], *, patient: str = PATIENT, status: str = Status.APPROVED,
        source_id: str = "1.2.250.1.999.2.1", submission_time: str = "20240101120000",
        content_type: Code = Code("IMG", "1.2.250.1.999.6", "Imaging"),
        authors: tuple[str, ...] = (), unique_id: str | None = None,
    ) -> str:
        entry_uuid = new_uuid()
        unique_id = unique_id or new_oid()
        obj = submission_set(
            SubmissionSetMetadata(
                entry_uuid=entry_uuid, unique_id=unique_id, source_id=source_id,
                patient_id=patient, submission_time=submission_time,
                content_type_code=content_type, authors=[Author(person=a) for a in authors],
            )
        )
        codes = [("contentTypeCode", content_type.code, content_type.scheme)]
        codes += [("authorPerson", a, "") for a in authors]
        self._row(
            obj, "ss", status, codes, unique_id=unique_id, patient_id=patient,
            source_id=source_id, submission_time=pad(submission_time),
        )
        for member in members:
            self.association(entry_uuid, member)
        return entry_uuid

    def folder(
        self, members: list[str], *, patient: str = PATIENT, status: str = Status.APPROVED,
        codes: tuple[Code, ...] = (Code("IMG", "1.2.250.1.999.7", "Imaging"),),
        last_update_time: str = "20240101120000", unique_id: str | None = None,
    ) -> str:
        entry_uuid = new_uuid()
        unique_id = unique_id or new_oid()
        obj = RegistryPackage(
            id=entry_uuid,
            slots=[Slot("lastUpdateTime", [last_update_time])],
            classifications=[
                Classification(id=f"{entry_uuid}-fol", classified_object=entry_uuid,
                               classification_node=Node.FOLDER),
                *(
                    Classification(
                        id=f"{entry_uuid}-c{i}", classified_object=entry_uuid,
                        classification_scheme=Scheme.FOL_CODE_LIST,
                        node_representation=c.code, slots=[Slot("codingScheme", [c.scheme])],
                        name=c.display,
                    )
                    for i, c in enumerate(codes)
                ),
            ],
            external_identifiers=[
                ExternalIdentifier(id=f"{entry_uuid}-e1", registry_object=entry_uuid,
                                   identification_scheme=Scheme.FOL_UNIQUE_ID, value=unique_id,
                                   name="XDSFolder.uniqueId"),
                ExternalIdentifier(id=f"{entry_uuid}-e2", registry_object=entry_uuid,
                                   identification_scheme=Scheme.FOL_PATIENT_ID, value=patient,
                                   name="XDSFolder.patientId"),
            ],
        )
        self._row(
            obj, "fol", status, [("folderCode", c.code, c.scheme) for c in codes],
            unique_id=unique_id, patient_id=patient, last_update_time=pad(last_update_time),
        )
        for member in members:
            self.association(entry_uuid, member)
        return entry_uuid

    def association(
        self, source: str, target: str, association_type: str = AssociationType.HAS_MEMBER,
        status: str = Status.APPROVED,
    ) -> str:
        entry_uuid = new_uuid()
        obj = Association(id=entry_uuid, association_type=association_type,
                          source_object=source, target_object=target)
        self._row(
            obj, "assoc", status, [], association_type=association_type,
            source_uuid=source, target_uuid=target,
        )
        return entry_uuid
