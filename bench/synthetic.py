"""Synthetic but realistic XDS-I.b metadata: what a site gateway submits for each study.

Every study becomes one KOS-manifest DocumentEntry (formatCode 88.59, eventCodeList carrying
modality and anatomic region, referenceIdList carrying accession and Study Instance UID) inside
a SubmissionSet with its HasMember associations: the objects a real ITI-42 carries, with ids
already resolved to ``urn:uuid:`` (as the registry stores them).

Everything is derived from a seeded ``random.Random`` so two runs build the same region; the
``index`` of a patient maps to its INS, so loaders and query drivers agree on who exists.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ihe.ebrim import (
    Association,
    AssociationType,
    Classification,
    ExternalIdentifier,
    ExtrinsicObject,
    Node,
    ObjectType,
    RegistryPackage,
    Scheme,
    Slot,
    SubmitObjectsRequest,
)
from ihe.ebrim.enum import (
    IDENTIFIER_NAMES,
    KOS_FORMAT_CODE,
    KOS_FORMAT_CODING_SCHEME,
    REFERENCE_ID_ACCESSION,
    REFERENCE_ID_SLOT,
    REFERENCE_ID_STUDY_INSTANCE_UID,
)

#: test INS assigning authority (DESIGN.md, Identifiers)
INS_AUTHORITY = "1.2.250.1.213.1.4.10"
DCM = "1.2.840.10008.2.16.4"
SNOMED = "2.16.840.1.113883.6.96"
LOINC = "2.16.840.1.113883.6.1"
IHE_CLASS = "1.3.6.1.4.1.19376.1.2.6.1"
CONFIDENTIALITY = "2.16.840.1.113883.5.25"
UID_ROOT = "1.2.826.0.1.3680043.10.1137"

Code = tuple[str, str, str]  # code, coding scheme, display

#: modality → (weight, typeCode, anatomic regions it is usually done on); codes from the NIST
#: affinity domain (codes.xml) so validation against it can stay on
MODALITIES: dict[str, tuple[int, Code, list[Code]]] = {
    "CR": (30, ("18748-4", LOINC, "Diagnostic imaging study"),
           [("43799004", SNOMED, "Chest"), ("71854001", SNOMED, "Colon"),
            ("818981001", SNOMED, "Abdomen"), ("70258002", SNOMED, "Ankle joint")]),
    "CT": (22, ("42274-1", LOINC, "CT Abd+Pelvis WO+W contr IV"),
           [("818982008", SNOMED, "Abdomen and Pelvis"), ("43799004", SNOMED, "Chest"),
            ("69536005", SNOMED, "Head")]),
    "MR": (14, ("18748-4", LOINC, "Diagnostic imaging study"),
           [("12738006", SNOMED, "Brain"), ("421060004", SNOMED, "Spine"),
            ("72696002", SNOMED, "Knee")]),
    "US": (18, ("18748-4", LOINC, "Diagnostic imaging study"),
           [("818981001", SNOMED, "Abdomen"), ("76752008", SNOMED, "Breast"),
            ("69748006", SNOMED, "Thyroid")]),
    "MG": (8, ("18748-4", LOINC, "Diagnostic imaging study"), [("76752008", SNOMED, "Breast")]),
    "PT": (3, ("18748-4", LOINC, "Diagnostic imaging study"),
           [("38266002", SNOMED, "Entire body")]),
    "NM": (2, ("18748-4", LOINC, "Diagnostic imaging study"), [("80891009", SNOMED, "Heart")]),
    "XA": (3, ("18748-4", LOINC, "Diagnostic imaging study"),
           [("41801008", SNOMED, "Coronary artery")]),
}
IMAGES: Code = ("IMAGES", IHE_CLASS, "Images")
CONFIDENTIALITIES: list[tuple[int, Code]] = [
    (90, ("N", CONFIDENTIALITY, "normal")),
    (8, ("R", CONFIDENTIALITY, "restricted")),
    (2, ("V", CONFIDENTIALITY, "very restricted")),
]
FACILITIES: list[Code] = [
    ("22232009", SNOMED, "Hospital"),
    ("35971002", SNOMED, "Ambulatory care site"),
    ("225728007", SNOMED, "Accident and Emergency department"),
]
PRACTICE_SETTINGS: list[Code] = [
    ("309964003", SNOMED, "Radiology department (environment)"),
    ("309915006", SNOMED, "Cardiology department (environment)"),
    ("225728007", SNOMED, "Accident and Emergency department (environment)"),
]
CONTENT_TYPE: Code = ("18748-4", LOINC, "Diagnostic imaging study")
FIRST_YEAR, LAST_YEAR = 2008, 2025
_MODALITY_NAMES = list(MODALITIES)
_MODALITY_WEIGHTS = [MODALITIES[m][0] for m in _MODALITY_NAMES]
_EPOCH = datetime(FIRST_YEAR, 1, 1, tzinfo=timezone.utc)
_SPAN_S = int((datetime(LAST_YEAR, 12, 31, tzinfo=timezone.utc) - _EPOCH).total_seconds())


@dataclass(frozen=True)
class ImagingSite:
    """An imaging site of the region: its OID, gateway repository and a radiologist."""

    oid: str
    name: str
    repository_unique_id: str
    radiologist: str


SITES = [
    ImagingSite(f"1.2.250.1.999.2.{n}", name, f"1.2.250.1.999.2.{n}.1",
         f"{rpps}^{family}^{given}^^^Dr^^^&1.2.250.1.71.4.2.1&ISO")
    for n, name, rpps, family, given in (
        (1, "CHU Nord", "10003456789", "MARTIN", "Claire"),
        (2, "Clinique du Parc", "10004567891", "BERNARD", "Hugo"),
        (3, "Imagerie Centre", "10005678912", "PETIT", "Lea"),
        (4, "CH Sud", "10006789123", "DUBOIS", "Marc"),
    )
]


def patient_cx(index: int) -> str:
    """The regional patient ID (test INS, CX) of patient number ``index``: stable per index."""
    rng = random.Random(index * 7919 + 17)
    sex = 1 + index % 2
    nir = f"{sex}{rng.randrange(30, 99):02d}{rng.randrange(1, 13):02d}{rng.randrange(1, 96):02d}"
    nir += f"{rng.randrange(1, 999):03d}{index % 1000:03d}"
    return f"{nir}^^^&{INS_AUTHORITY}&ISO"


def _uuid(rng: random.Random) -> str:
    """A random (version 4) UUID URN from ``rng``; formatted by hand, ``uuid.UUID`` is slow."""
    h = f"{rng.getrandbits(128):032x}"
    return f"urn:uuid:{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def _dtm(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S")


def _coded(scheme: str, obj_id: str, code: Code, rng: random.Random) -> Classification:
    return Classification(
        id=_uuid(rng), classification_scheme=scheme, classified_object=obj_id,
        node_representation=code[0], name=code[2], slots=[Slot("codingScheme", [code[1]])],
    )


def _external(scheme: Scheme, obj_id: str, value: str, rng: random.Random) -> ExternalIdentifier:
    return ExternalIdentifier(
        id=_uuid(rng), identification_scheme=scheme, registry_object=obj_id, value=value,
        name=IDENTIFIER_NAMES[scheme],
    )


def _author(scheme: str, obj_id: str, site: ImagingSite, rng: random.Random) -> Classification:
    return Classification(
        id=_uuid(rng), classification_scheme=scheme, classified_object=obj_id,
        node_representation="",
        slots=[
            Slot("authorPerson", [site.radiologist]),
            Slot("authorInstitution", [f"{site.name}^^^^^&{site.oid}&ISO^^^^{site.oid}"]),
            Slot("authorRole", ["Radiologist"]),
        ],
    )


class Region:
    """Builds submissions for one region; ``seed`` makes every run identical."""

    def __init__(self, seed: int) -> None:
        if seed < 0:
            raise ValueError("seed must be a non-negative integer (it is part of the UIDs)")
        self.rng = random.Random(seed)
        #: UIDs are ``<root>.<seed>.<kind>.<serial>``: unique across regions of distinct seeds
        self.uid_base = f"{UID_ROOT}.{seed}"
        self.serial = 0

    def study_entry(self, patient: int) -> ExtrinsicObject:
        """One KOS manifest DocumentEntry for a study of patient ``patient``."""
        rng = self.rng
        self.serial += 1
        site = SITES[rng.randrange(len(SITES))]
        modality = rng.choices(_MODALITY_NAMES, _MODALITY_WEIGHTS)[0]
        _, type_code, regions = MODALITIES[modality]
        region = regions[rng.randrange(len(regions))]
        start = _EPOCH + timedelta(seconds=rng.randrange(_SPAN_S))
        created = start + timedelta(minutes=rng.randrange(20, 60 * 24 * 3))
        study_uid = f"{self.uid_base}.3.{self.serial}"
        accession = f"A{start:%y}{rng.randrange(10**7):07d}"
        kos = f"{study_uid}:{modality}".encode()
        doc = _uuid(rng)
        confidentiality = rng.choices(
            [c for _, c in CONFIDENTIALITIES], [w for w, _ in CONFIDENTIALITIES])[0]
        return ExtrinsicObject(
            id=doc, mime_type="application/dicom", object_type=ObjectType.STABLE_DOCUMENT,
            name=f"{modality} {region[2]}",
            slots=[
                Slot("creationTime", [_dtm(created)]),
                Slot("serviceStartTime", [_dtm(start)]),
                Slot("serviceStopTime", [_dtm(start + timedelta(minutes=rng.randrange(5, 90)))]),
                Slot("languageCode", ["fr-FR"]),
                Slot("hash", [hashlib.sha1(kos).hexdigest()]),
                Slot("size", [str(1800 + rng.randrange(40000))]),
                Slot("repositoryUniqueId", [site.repository_unique_id]),
                Slot("sourcePatientId", [f"P{patient:08d}^^^&{site.oid}.100&ISO"]),
                Slot("sourcePatientInfo", [f"PID-3|P{patient:08d}^^^&{site.oid}.100&ISO",
                                           f"PID-8|{'MF'[patient % 2]}"]),
                Slot(REFERENCE_ID_SLOT, [
                    f"{accession}^^^&{site.oid}&ISO^{REFERENCE_ID_ACCESSION}",
                    f"{study_uid}^^^^{REFERENCE_ID_STUDY_INSTANCE_UID}",
                ]),
            ],
            classifications=[
                _author(Scheme.DE_AUTHOR, doc, site, rng),
                _coded(Scheme.DE_CLASS_CODE, doc, IMAGES, rng),
                _coded(Scheme.DE_CONFIDENTIALITY_CODE, doc, confidentiality, rng),
                _coded(Scheme.DE_EVENT_CODE, doc, (modality, DCM, modality), rng),
                _coded(Scheme.DE_EVENT_CODE, doc, region, rng),
                _coded(Scheme.DE_FORMAT_CODE, doc,
                       (KOS_FORMAT_CODE, KOS_FORMAT_CODING_SCHEME, "Key Object Selection"), rng),
                _coded(Scheme.DE_HEALTHCARE_FACILITY_TYPE_CODE, doc,
                       FACILITIES[rng.randrange(len(FACILITIES))], rng),
                _coded(Scheme.DE_PRACTICE_SETTING_CODE, doc,
                       PRACTICE_SETTINGS[rng.randrange(len(PRACTICE_SETTINGS))], rng),
                _coded(Scheme.DE_TYPE_CODE, doc, type_code, rng),
            ],
            external_identifiers=[
                _external(Scheme.DE_PATIENT_ID, doc, patient_cx(patient), rng),
                _external(Scheme.DE_UNIQUE_ID, doc, f"{self.uid_base}.1.{self.serial}", rng),
            ],
        )

    def submission(self, patient: int, studies: int) -> SubmitObjectsRequest:
        """An ITI-42 SubmitObjectsRequest: one SubmissionSet, ``studies`` manifests, HasMember."""
        rng = self.rng
        docs = [self.study_entry(patient) for _ in range(studies)]
        site = SITES[rng.randrange(len(SITES))]
        ss = _uuid(rng)
        submitted = max(d.slot_value("creationTime") or "" for d in docs)
        package = RegistryPackage(
            id=ss, name="Imaging studies",
            slots=[Slot("submissionTime", [submitted])],
            classifications=[
                Classification(id=_uuid(rng), classified_object=ss,
                               classification_node=Node.SUBMISSION_SET),
                _author(Scheme.SS_AUTHOR, ss, site, rng),
                _coded(Scheme.SS_CONTENT_TYPE_CODE, ss, CONTENT_TYPE, rng),
            ],
            external_identifiers=[
                _external(Scheme.SS_UNIQUE_ID, ss, f"{self.uid_base}.2.{self.serial}", rng),
                _external(Scheme.SS_SOURCE_ID, ss, site.oid, rng),
                _external(Scheme.SS_PATIENT_ID, ss, patient_cx(patient), rng),
            ],
        )
        members = [
            Association(
                id=_uuid(rng), association_type=AssociationType.HAS_MEMBER,
                source_object=ss, target_object=d.id,
                slots=[Slot("SubmissionSetStatus", ["Original"])],
            )
            for d in docs
        ]
        return SubmitObjectsRequest(objects=[package, *docs, *members])
