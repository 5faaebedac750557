"""The XDS-I.b imaging manifest: a DICOM Key Object Selection Document (RAD TF-3 §4.68.4.1.2.1).

Built with ``highdicom.ko`` from the study's evidence, then completed where highdicom stops:
Retrieve AE Title (0008,0054), Retrieve URL (0008,1190) and Retrieve Location UID (0040,E011) on
every Referenced Series item (PS3.3 Table 10-4), Issuer of Patient ID (0010,0021), and the
caller's time instead of the clock highdicom reads. Parsed back with ``from_bytes`` into the list
of references a consumer resolves to the owning gateway.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from io import BytesIO

import highdicom as hd
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.valuerep import DT

from ihe.errors import RemoteProtocolError
from ihe.kos.content import Device, Reference, RetrieveLocation, Series, Study
from ihe.kos.enum import KOS_SOP_CLASS_UID, MANIFEST_TITLE

_TITLE = hd.sr.CodedConcept(*MANIFEST_TITLE)
_SOURCE = hd.sr.CodedConcept("260753009", "SCT", "Source")  # as highdicom names references


def _merge(evidence: Sequence[Study]) -> Study:
    """One study from evidence that may arrive in several pieces (e.g. two queries)."""
    if len(evidence) == 0:
        raise ValueError("No evidence was provided: a manifest references the instances of a "
                         "study (RAD TF-3 §4.68.4.1.2.1).")
    for item in evidence:
        if not isinstance(item, Study):
            raise TypeError(f"evidence items must be ihe.kos.Study, not {type(item).__name__}")
    first = evidence[0]
    studies = {s.study_instance_uid for s in evidence}
    if len(studies) > 1:
        raise ValueError(
            f"Evidence spans {len(studies)} studies ({', '.join(sorted(studies))}): an XDS-I.b "
            "manifest references the instances of one study (RAD TF-3 §4.68.4.1.2.1)."
        )
    patients = {s.patient_id for s in evidence}
    if len(patients) > 1:
        raise ValueError(f"Evidence of study {first.study_instance_uid} names several patients "
                         f"({', '.join(sorted(patients))}).")
    series: dict[str, Series] = {}
    for study in evidence:
        for s in study.series:
            merged = series.setdefault(
                s.series_instance_uid,
                Series(s.series_instance_uid, s.modality, s.body_part_examined),
            )
            known = {i.sop_instance_uid for i in merged.instances}
            merged.instances += [i for i in s.instances if i.sop_instance_uid not in known]
    return Study(**{**vars(first), "series": list(series.values())})


_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")


def _check_uid(name: str, value: str) -> None:
    if len(value) > 64 or not _UID.match(value):
        raise ValueError(f"{name} {value!r} is not a valid DICOM UID (PS3.5 §9.1).")


def _tm(value: str) -> str | None:
    """A TM; the ACR-NEMA ``HH:MM:SS`` form some archives still return loses its colons
    (PS3.5 Table 6.2-1, TM: "retired" format)."""
    return value.replace(":", "") or None


def _da(value: str) -> str | None:
    """A DA; the ACR-NEMA ``YYYY.MM.DD`` form loses its dots (PS3.5 Table 6.2-1, DA)."""
    return value.replace(".", "") or None


def _evidence_datasets(study: Study) -> list[Dataset]:
    """Minimal evidence datasets for highdicom: the UIDs of every instance, and on the first the
    patient and study attributes the document inherits (PS3.3 C.17.2.1)."""
    datasets = []
    for series in study.series:
        for instance in series.instances:
            ds = Dataset()
            ds.StudyInstanceUID = study.study_instance_uid
            ds.SeriesInstanceUID = series.series_instance_uid
            ds.SOPClassUID = instance.sop_class_uid
            ds.SOPInstanceUID = instance.sop_instance_uid
            datasets.append(ds)
    head = datasets[0]
    head.PatientID = study.patient_id
    head.PatientName = study.patient_name
    head.PatientBirthDate = _da(study.patient_birth_date)
    head.PatientSex = study.patient_sex
    head.AccessionNumber = study.accession_number
    head.StudyID = study.study_id
    head.StudyDate = _da(study.study_date)
    head.StudyTime = _tm(study.study_time)
    head.ReferringPhysicianName = study.referring_physician_name
    return datasets


def _content(study: Study, device: Device, description: str | None) -> hd.ko.KeyObjectSelection:
    """TID 2010 content: title, the device observer, an optional description, then one IMAGE or
    COMPOSITE item per instance. highdicom's ``KeyObjectSelection`` picks the value type from
    Rows/Columns of full datasets, which a C-FIND does not return: here the SOP Class decides."""
    root = hd.sr.ContainerContentItem(  # TID 2010 row 1: continuity SEPARATE
        name=_TITLE, template_id="2010", is_content_continuous=False
    )
    root.ContentSequence = hd.sr.ContentSequence(
        hd.sr.ObserverContext(
            observer_type=hd.sr.CodedConcept("121007", "DCM", "Device"),
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=device.uid, name=device.name, manufacturer_name=device.manufacturer,
            ),
        )
    )
    if description:
        root.ContentSequence.append(hd.sr.TextContentItem(
            name=hd.sr.CodedConcept("113012", "DCM", "Key Object Description"),
            value=description, relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
        ))
    for series in study.series:
        for instance in series.instances:
            item_class = hd.sr.ImageContentItem if instance.is_image else hd.sr.CompositeContentItem
            root.ContentSequence.append(item_class(
                name=_SOURCE,
                referenced_sop_class_uid=instance.sop_class_uid,
                referenced_sop_instance_uid=instance.sop_instance_uid,
                relationship_type=hd.sr.RelationshipTypeValues.CONTAINS,
            ))
    return hd.ko.KeyObjectSelection.from_sequence([root], is_root=True)


class Manifest:
    """A KOS manifest of one study, valid once built (RAD TF-3 §4.68.4.1.2.1, PS3.3 A.35.4)."""

    document: hd.ko.KeyObjectSelectionDocument
    references: tuple[Reference, ...]

    def __init__(
        self,
        evidence: Sequence[Study],
        *,
        sop_instance_uid: str,
        series_instance_uid: str,
        content_datetime: datetime,
        retrieve: RetrieveLocation,
        device: Device,
        institution_name: str | None = None,
        series_number: int = 999,
        instance_number: int = 1,
        description: str | None = None,
    ) -> None:
        """
        Parameters
        ----------
        evidence: Sequence[ihe.kos.Study]
            The study with every series and instance to reference; pieces of one study are
            merged.
        sop_instance_uid, series_instance_uid: str
            UIDs of the manifest and of its own, new series.
        content_datetime: datetime.datetime
            Content (and instance creation) date and time, local time of the site.
        retrieve: ihe.kos.RetrieveLocation
            The gateway's repositoryUniqueId, AE title and WADO-RS root.
        device: ihe.kos.Device
            The gateway as device observer; its manufacturer goes to Manufacturer (0008,0070).
        institution_name: str, optional
            Institution Name (0008,0080) of the site.
        series_number, instance_number: int
            Series Number and Instance Number of the manifest.
        description: str, optional
            Key Object Description (113012, DCM) content item.

        Raises
        ------
        TypeError
            When an evidence item is not an ``ihe.kos.Study``.
        ValueError
            When there is no evidence, when it spans several studies or patients, when a series
            has no instance, when the retrieve location lacks its UID or AE title, when a UID is
            invalid or the manifest would reuse a UID of the evidence.
        """
        study = _merge(evidence)
        if not study.series or not any(s.instances for s in study.series):
            raise ValueError(f"No instance to reference in study {study.study_instance_uid} "
                             "(RAD TF-3 §4.68.4.1.2.1).")
        empty = [s.series_instance_uid for s in study.series if not s.instances]
        if empty:
            raise ValueError(f"Series {', '.join(empty)} have no instances: Referenced SOP "
                             "Sequence (0008,1199) is Type 1 (PS3.3 Table 10-4); query the "
                             "instances first.")
        if not retrieve.repository_unique_id:
            raise ValueError("Retrieve Location UID (0040,E011) is required on every Referenced "
                             "Series item of an XDS-I.b manifest: pass the repositoryUniqueId "
                             "(RAD TF-3 §4.68.4.1.2.1).")
        _check_uid("Retrieve Location UID", retrieve.repository_unique_id)
        if not retrieve.ae_title or len(retrieve.ae_title) > 16:
            raise ValueError("Retrieve AE Title (0008,0054) must be 1-16 characters (PS3.5 "
                             "Table 6.2-1); NIST ids_2018-4800 requires it in each series.")
        for name, value in (("SOP Instance UID", sop_instance_uid),
                            ("Series Instance UID", series_instance_uid),
                            ("Study Instance UID", study.study_instance_uid)):
            _check_uid(name, value)
        instances = [i.sop_instance_uid for s in study.series for i in s.instances]
        if len(set(instances)) != len(instances):
            raise ValueError("A SOP Instance UID appears in two series of the evidence.")
        if series_instance_uid in {s.series_instance_uid for s in study.series}:
            raise ValueError("The manifest goes in a new series: Series Instance UID "
                             f"{series_instance_uid} belongs to the evidence (RAD TF-3 "
                             "§4.68.4.1.2.1).")
        if sop_instance_uid in set(instances):
            raise ValueError(f"SOP Instance UID {sop_instance_uid} belongs to the evidence.")

        document = hd.ko.KeyObjectSelectionDocument(
            evidence=_evidence_datasets(study),
            content=_content(study, device, description),
            series_instance_uid=series_instance_uid,
            series_number=series_number,
            sop_instance_uid=sop_instance_uid,
            instance_number=instance_number,
            manufacturer=device.manufacturer,
            institution_name=institution_name,
            transfer_syntax_uid=ExplicitVRLittleEndian,
            specific_character_set="ISO_IR 192",
            content_date=content_datetime.date(),
            content_time=content_datetime.time(),
        )
        # highdicom stamps these with its own clock: the caller's time makes builds reproducible
        document.InstanceCreationDate = document.ContentDate
        document.InstanceCreationTime = document.ContentTime
        for equipment in document.ContributingEquipmentSequence:
            equipment.ContributionDateTime = DT(content_datetime)
        if study.issuer_of_patient_id:
            document.IssuerOfPatientID = study.issuer_of_patient_id
        for study_item in document.CurrentRequestedProcedureEvidenceSequence:
            for series_item in study_item.ReferencedSeriesSequence:
                series_item.RetrieveAETitle = retrieve.ae_title
                if retrieve.wado_rs_root:
                    series_item.RetrieveURL = retrieve.series_url(
                        study_item.StudyInstanceUID, series_item.SeriesInstanceUID
                    )
                series_item.RetrieveLocationUID = retrieve.repository_unique_id
        self.document = document
        self.references = tuple(_references(document))

    @classmethod
    def from_dataset(cls, dataset: Dataset) -> Manifest:
        """Read a manifest from a dataset.

        Raises
        ------
        ihe.errors.RemoteProtocolError
            When it is not a KOS with title (113030, DCM, "Manifest"), references no instance,
            spans several studies, or a series has no Retrieve Location UID.
        """
        if dataset.get("SOPClassUID") != KOS_SOP_CLASS_UID:
            raise _bad(f"SOP Class {dataset.get('SOPClassUID')} is not Key Object Selection "
                       "Document Storage")
        try:
            document = hd.ko.KeyObjectSelectionDocument.from_dataset(dataset)
        except (AttributeError, KeyError, ValueError, TypeError) as exc:
            raise _bad(f"malformed Key Object Selection Document: {exc}") from None
        title = dataset.ConceptNameCodeSequence[0]
        if (title.CodeValue, title.CodingSchemeDesignator) != MANIFEST_TITLE[:2]:
            raise _bad(f"document title ({title.CodeValue}, {title.CodingSchemeDesignator}) is "
                       "not (113030, DCM, \"Manifest\") (RAD TF-3 §4.68.4.1.2.1)")
        references = list(_references(document))
        if not references:
            raise _bad("Current Requested Procedure Evidence Sequence references no instance")
        if len({r.study_instance_uid for r in references}) > 1:
            raise _bad("the manifest references several studies")
        missing = sorted({r.series_instance_uid for r in references if not r.retrieve_location_uid})
        if missing:
            raise _bad(f"series {', '.join(missing)} have no Retrieve Location UID (0040,E011)")
        manifest = cls.__new__(cls)
        manifest.document = document
        manifest.references = tuple(references)
        return manifest

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse a DICOM Part 10 file (raises ``RemoteProtocolError`` as ``from_dataset``)."""
        try:
            dataset = dcmread(BytesIO(data))
        except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
            raise _bad(f"not a DICOM Part 10 file: {exc}") from None
        return cls.from_dataset(dataset)

    def to_bytes(self) -> bytes:
        """DICOM Part 10 file, Explicit VR Little Endian."""
        buffer = BytesIO()
        self.document.save_as(buffer, enforce_file_format=True)
        return buffer.getvalue()

    @property
    def sop_instance_uid(self) -> str:
        return str(self.document.SOPInstanceUID)

    @property
    def study_instance_uid(self) -> str:
        return str(self.document.StudyInstanceUID)

    @property
    def retrieve_location_uids(self) -> set[str]:
        """The repositoryUniqueIds a consumer resolves to gateways (DESIGN step 5)."""
        return {r.retrieve_location_uid for r in self.references}


def _bad(message: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"invalid XDS-I.b manifest: {message}", "XDSRepositoryError")


def _references(document: Dataset) -> Iterable[Reference]:
    for study_item in document.get("CurrentRequestedProcedureEvidenceSequence", []):
        for series_item in study_item.get("ReferencedSeriesSequence", []):
            for sop_item in series_item.get("ReferencedSOPSequence", []):
                yield Reference(
                    study_instance_uid=str(study_item.StudyInstanceUID),
                    series_instance_uid=str(series_item.SeriesInstanceUID),
                    sop_class_uid=str(sop_item.ReferencedSOPClassUID),
                    sop_instance_uid=str(sop_item.ReferencedSOPInstanceUID),
                    retrieve_location_uid=str(series_item.get("RetrieveLocationUID", "")),
                    retrieve_ae_title=str(series_item.get("RetrieveAETitle", "")),
                    retrieve_url=str(series_item.get("RetrieveURL", "")),
                )


def _person_name(value: object) -> str:
    """PN compared the way NIST does: trailing empty components ignored (``A^B^^^`` = ``A^B``)."""
    return "=".join(group.rstrip("^") for group in str(value or "").split("="))


def _as_dataset(kos: Manifest | Dataset | bytes) -> Dataset:
    if isinstance(kos, Manifest):
        return kos.document
    if isinstance(kos, bytes):
        return dcmread(BytesIO(kos))
    return kos


def differences(kos: Manifest | Dataset | bytes, gold: Manifest | Dataset | bytes) -> list[str]:
    """What differs between a manifest and a gold-standard KOS, on every check of the NIST
    ``sameKOSDcm`` assertion (tests ids_2018-4801a/b/c, ValidateKOS readme), plus the document
    title; empty when they agree.

    Each referenced series of the gold must be present with a non-empty Retrieve AE Title, the
    same Retrieve Location UID and the same instances (SOP Class and Instance UIDs); instances or
    series the gold does not reference are reported too.
    """
    try:
        candidate = _as_dataset(kos)
    except (InvalidDicomError, EOFError, ValueError, OSError) as exc:
        return [f"not a valid DICOM file: {exc}"]
    expected = _as_dataset(gold)
    found: list[str] = []

    def same(keyword: str, normalise=str) -> None:  # type: ignore[no-untyped-def]
        a, b = normalise(candidate.get(keyword, "")), normalise(expected.get(keyword, ""))
        if a != b:
            found.append(f"{keyword}: {a!r} != gold {b!r}")

    same("SOPClassUID")
    same("PatientName", _person_name)
    for keyword in ("PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber",
                    "StudyInstanceUID"):
        same(keyword)
    if candidate.get("Modality") != "KO":
        found.append(f"Modality: {candidate.get('Modality')!r} != 'KO'")
    titles = candidate.get("ConceptNameCodeSequence", [])
    if not titles or (titles[0].get("CodeValue"), titles[0].get("CodingSchemeDesignator")) != \
            MANIFEST_TITLE[:2]:
        found.append("ConceptNameCodeSequence: document title is not (113030, DCM, Manifest)")

    got = {(r.study_instance_uid, r.series_instance_uid, r.sop_instance_uid): r
           for r in _references(candidate)}
    want = {(r.study_instance_uid, r.series_instance_uid, r.sop_instance_uid): r
            for r in _references(expected)}
    if str(candidate.get("SOPInstanceUID", "")) in {k[2] for k in want}:
        found.append("SOPInstanceUID: the manifest reuses the UID of a referenced instance")
    if str(candidate.get("SeriesInstanceUID", "")) in {k[1] for k in want}:
        found.append("SeriesInstanceUID: the manifest is not in a new series")
    got_series = {(r.study_instance_uid, r.series_instance_uid): r for r in got.values()}
    for (study_uid, series_uid), gold_ref in {
        (r.study_instance_uid, r.series_instance_uid): r for r in want.values()
    }.items():
        ref = got_series.get((study_uid, series_uid))
        if ref is None:
            found.append(f"evidence: series {series_uid} of study {study_uid} is missing")
            continue
        if not ref.retrieve_ae_title:
            found.append(f"evidence: series {series_uid} has no Retrieve AE Title (0008,0054)")
        if ref.retrieve_location_uid != gold_ref.retrieve_location_uid:
            found.append(f"evidence: series {series_uid} Retrieve Location UID "
                         f"{ref.retrieve_location_uid!r} != gold "
                         f"{gold_ref.retrieve_location_uid!r}")
    for key, gold_ref in want.items():
        ref = got.get(key)
        if ref is None:
            if key[:2] in got_series:
                found.append(f"evidence: instance {key[2]} of series {key[1]} is missing")
        elif ref.sop_class_uid != gold_ref.sop_class_uid:
            found.append(f"evidence: instance {key[2]} SOP Class {ref.sop_class_uid} != gold "
                         f"{gold_ref.sop_class_uid}")
    found += [f"evidence: instance {key[2]} of series {key[1]} is not in the gold standard"
              for key in got.keys() - want.keys()]
    return found

