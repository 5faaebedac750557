"""What a RAD-68 publication must hold: ids_2018-4801a/b/c (the KOS the source registered,
fetched back with ITI-18 and ITI-43, against NIST's gold KOS on every ``sameKOSDcm`` check, and
its DocumentEntry against ``metadata-evaluate.xml`` on every ``sameKOSMetadata`` check) and the
ids_2018-4800 rules (the KOS against the images it references and the test configuration; the
DocumentEntry against the readme's XDS-I values).

The gold KOS of each imaging-std study is the one NIST made for those images (``kos/kos.dcm``):
``kos-evaluate.dcm`` describes ids_2018 images that are not distributed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from ihe import xml
from ihe.ebrim import (
    AdhocQueryRequest,
    DocumentRequest,
    ExtrinsicObject,
    ObjectType,
    ProvideAndRegisterDocumentSetRequest,
    RetrieveDocumentSetRequest,
    Scheme,
    Slot,
    Status,
)
from ihe.ebrim.enum import REFERENCE_ID_SLOT
from ihe.errors import ProtocolError
from ihe.kos import (
    FORMAT_CODE,
    MIME_TYPE,
    Manifest,
    ReferenceIdType,
    differences,
    event_codes,
    metadata_differences,
)
from partage import soapclient
from partage.conformance.execute import Row
from partage.conformance.imaging.fixture import (
    ACCESSION_AUTHORITY,
    AFFINITY_CODES,
    NIST_REPOSITORY,
    ImagingStudy,
)

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
#: attributes the KOS copies unchanged from the images (ids_2018-4800, "DICOM Fields")
UNCHANGED = ("PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "StudyInstanceUID")


@dataclass
class Published:
    """A study's registered DocumentEntry and the KOS bytes the repository gives back."""

    entry: ExtrinsicObject
    kos: bytes


def approved_entries(registry_url: str, patient_id: str, token: str
                     ) -> list[ExtrinsicObject]:
    """ITI-18 FindDocuments: the patient's Approved DocumentEntries."""
    answer = soapclient.stored_query(registry_url, AdhocQueryRequest(FIND_DOCUMENTS, [
        Slot("$XDSDocumentEntryPatientId", [f"'{patient_id}'"]),
        Slot("$XDSDocumentEntryStatus", [f"('{Status.APPROVED}')"]),
    ]), token=token)
    return [o for o in answer.objects if isinstance(o, ExtrinsicObject)]


def fetch(registry_url: str, repository_url: str, study: ImagingStudy, token: str
          ) -> Published | str:
    """The study's one manifest (ITI-18 then ITI-43, with the caller's ``token``), or why
    there is none."""
    entries = approved_entries(registry_url, study.regional_id, token)
    if len(entries) != 1:
        return f"{len(entries)} Approved DocumentEntries for {study.regional_id}, not 1"
    entry = entries[0]
    repository = next(iter(entry.slot_values("repositoryUniqueId")), "")
    answer = soapclient.retrieve(repository_url, RetrieveDocumentSetRequest(
        [DocumentRequest(repository, entry.unique_id or "")]), token=token)
    if len(answer.documents) != 1:
        errors = [f"{e.code}: {e.context}" for e in answer.response.errors]
        return f"ITI-43 of {entry.unique_id} gave {len(answer.documents)} documents {errors}"
    return Published(entry, answer.documents[0].data)


def gold_entry(tests: Path, letter: str) -> ExtrinsicObject:
    path = tests / f"ids_2018-4801{letter}" / "ValidateMetadata" / "metadata-evaluate.xml"
    gold = ProvideAndRegisterDocumentSetRequest.from_element(xml.parse(path.read_bytes()))
    return next(o for o in gold.submission.objects if isinstance(o, ExtrinsicObject))


def _read(data: bytes) -> Dataset | str:
    try:
        return dcmread(BytesIO(data))
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        return f"the KOS is not a DICOM file: {exc}"


def kos_rules(data: bytes, study: ImagingStudy) -> list[str]:
    """ids_2018-4800 "DICOM Fields of Interest in KOS Object": against the images themselves."""
    kos = _read(data)
    if isinstance(kos, str):
        return [kos]
    found = [f"{tag}: {kos.get(tag)!r} != image {study.head.get(tag)!r}"
             for tag in UNCHANGED if str(kos.get(tag, "")) != str(study.head.get(tag, ""))]
    name, image_name = (str(ds.get("PatientName", "")).rstrip("^") for ds in (kos, study.head))
    if name != image_name:  # "would not be surprised by format differences (extra ^)"
        found.append(f"PatientName: {name!r} != image {image_name!r}")
    if kos.get("SeriesInstanceUID") in {ds.SeriesInstanceUID for ds in study.images}:
        found.append("the KOS is not in a new series")
    try:
        references = Manifest.from_dataset(kos).references
    except ProtocolError as exc:
        return [*found, f"not a manifest: {exc}"]
    if not references:
        found.append("Current Requested Procedure Evidence Sequence references nothing")
    for ref in references:
        if ref.retrieve_location_uid != NIST_REPOSITORY:
            found.append(f"series {ref.series_instance_uid}: Retrieve Location UID "
                         f"{ref.retrieve_location_uid!r} != {NIST_REPOSITORY}")
        if not ref.retrieve_ae_title:
            found.append(f"series {ref.series_instance_uid}: no Retrieve AE Title")
    return list(dict.fromkeys(found))


def metadata_rules(entry: ExtrinsicObject, kos_uid: str, study: ImagingStudy) -> list[str]:
    """ids_2018-4800 "Document Entry Metadata Requirements" (RAD TF-3 §4.68.1.2.3.2 and ITI TF-3
    §4.3.1), the affinity domain's values as the readme configures them."""
    found = []

    def same(name: str, got: object, want: object) -> None:
        if got != want:
            found.append(f"{name}: {got!r} != {want!r}")

    same("patientId", entry.patient_id, study.regional_id)
    same("uniqueId", entry.unique_id, kos_uid)
    same("mimeType", entry.mime_type, MIME_TYPE)
    same("objectType", entry.object_type, ObjectType.STABLE_DOCUMENT)
    same("formatCode", [(c.node_representation, c.coding_scheme)
                        for c in entry.classified(Scheme.DE_FORMAT_CODE)],
         [FORMAT_CODE[:2]])
    same("eventCodeList", sorted((c.node_representation, c.coding_scheme)
                                 for c in entry.classified(Scheme.DE_EVENT_CODE)),
         sorted((c.code, c.scheme) for c in event_codes(study.evidence())))
    for name, (scheme, code, coding_scheme, _) in AFFINITY_CODES.items():
        same(name, [(c.node_representation, c.coding_scheme) for c in entry.classified(scheme)],
             [(code, coding_scheme)])
    accession = (f"{study.head.AccessionNumber}^^^&{ACCESSION_AUTHORITY}&ISO^"
                 f"{ReferenceIdType.ACCESSION}")
    if accession not in entry.slot_values(REFERENCE_ID_SLOT):
        found.append(f"referenceIdList: no {accession} in {entry.slot_values(REFERENCE_ID_SLOT)}")
    return found


def rows(registry_url: str, repository_url: str, token: str, tests: Path,
         studies: dict[str, ImagingStudy]) -> Iterator[Row]:
    for letter, study in studies.items():
        test = f"ids_2018-4801{letter}"
        published = fetch(registry_url, repository_url, study, token)
        if isinstance(published, str):
            for section in ("ValidateKOS", "ValidateMetadata"):
                yield Row(test, section, section, "same as gold", "not found", [published])
            for part in ("kos", "metadata"):
                yield Row("ids_2018-4800", study.name, part, "rules hold", "not found",
                          [published])
            continue
        kos = _read(published.kos)
        kos_uid = str(kos.SOPInstanceUID) if isinstance(kos, Dataset) else ""
        gold = study.gold_kos.read_bytes()
        found = differences(published.kos, gold)
        yield Row(test, "ValidateKOS", "ValidateKOS", f"same as {study.name}/kos/kos.dcm",
                  "same" if not found else f"{len(found)} differences", found)
        found = metadata_differences(published.entry, gold_entry(tests, letter),
                                     patient_id=study.regional_id, unique_id=kos_uid,
                                     study=study.evidence())
        yield Row(test, "ValidateMetadata", "ValidateMetadata", "same as metadata-evaluate.xml",
                  "same" if not found else f"{len(found)} differences", found)
        found = kos_rules(published.kos, study)
        yield Row("ids_2018-4800", study.name, "kos", "rules hold",
                  "hold" if not found else f"{len(found)} broken", found)
        found = metadata_rules(published.entry, kos_uid, study)
        yield Row("ids_2018-4800", study.name, "metadata", "rules hold",
                  "hold" if not found else f"{len(found)} broken", found)
