"""Metadata builders emit schema-valid submissions carrying every attribute they were given."""

from __future__ import annotations

from pathlib import Path

import pytest

from ihe.ebrim import ExtrinsicObject, RegistryPackage, Scheme, SubmitObjectsRequest
from ihe.ebrim.builders import (
    Author,
    Code,
    DocumentEntryMetadata,
    SubmissionSetMetadata,
    document_entry,
    submission,
)
from ihe.errors import LocalProtocolError
from partage import xsd

PID = "2801205123456^^^&1.2.250.1.213.1.4.10&ISO"
KOS = Code("1.2.840.10008.5.1.4.1.1.88.59", "1.2.840.10008.2.6.1", "Key Object Selection Document")
CT = Code("CT", "DCM", "Computed Tomography")


def entry(**overrides) -> DocumentEntryMetadata:  # type: ignore[no-untyped-def]
    values = dict(
        entry_uuid="urn:uuid:0b5f4c9e-54a2-4b3a-9d7e-1d2c3b4a5f60",
        unique_id="1.2.250.1.999.2.1",
        patient_id=PID,
        source_patient_id="IPP123^^^&1.2.250.1.999.10&ISO",
        class_code=Code("IMG", "1.2.250.1.213.1.1.4.1", "Imagerie"),
        type_code=Code("18748-4", "2.16.840.1.113883.6.1", "Diagnostic imaging study"),
        format_code=KOS,
        confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25", "Normal")],
        healthcare_facility_type_code=Code("SA01", "1.2.250.1.71.4.2.4", "Hospital"),
        practice_setting_code=Code("ETABLISSEMENT", "1.2.250.1.213.1.1.4.9", "Radiology"),
        creation_time="20261127101500",
        mime_type="application/dicom",
        event_codes=[CT],
        reference_ids=["ACC42^^^^urn:ihe:iti:xds:2013:accession"],
        authors=[Author(person="^Martin^Claire", institutions=("CHU Nord",))],
    )
    values.update(overrides)
    return DocumentEntryMetadata(**values)


def test_submission_is_schema_valid_and_carries_the_attributes(conformance_dir: Path) -> None:
    ss = SubmissionSetMetadata(
        entry_uuid="urn:uuid:4f1c2b1e-2b8e-4a54-8d0f-7a3f1e2d3c4b", unique_id="1.2.250.1.999.3.1",
        source_id="1.2.250.1.999", patient_id=PID, submission_time="20261127101600",
        content_type_code=Code("18748-4", "2.16.840.1.113883.6.1", "Imaging"),
    )
    request = submission(ss, [entry()])
    assert xsd.errors(request.to_element(), conformance_dir / "schemas") == []
    parsed = SubmitObjectsRequest.from_bytes(request.to_bytes())
    de = next(o for o in parsed.objects if isinstance(o, ExtrinsicObject))
    package = next(o for o in parsed.objects if isinstance(o, RegistryPackage))
    assert de.patient_id == PID and de.unique_id == "1.2.250.1.999.2.1"
    assert [c.node_representation for c in de.classified(Scheme.DE_EVENT_CODE)] == ["CT"]
    assert de.slot_values("urn:ihe:iti:xds:2013:referenceIdList") == [
        "ACC42^^^^urn:ihe:iti:xds:2013:accession"
    ]
    assert package.is_submission_set
    assert package.external_id(Scheme.SS_SOURCE_ID) == "1.2.250.1.999"


def test_extra_metadata_slots_are_urns_outside_ihe() -> None:
    slot = "urn:partage:xdsi:numberOfStudyRelatedInstances"
    assert document_entry(entry(extra_slots={slot: ["12"]})).slot_values(slot) == ["12"]
    for name in ("numberOfImages", "urn:ihe:iti:xds:2099:count"):
        with pytest.raises(LocalProtocolError):
            entry(extra_slots={name: ["1"]})


def test_confidentiality_code_is_required() -> None:
    with pytest.raises(LocalProtocolError):
        document_entry(entry(confidentiality_codes=[]))
