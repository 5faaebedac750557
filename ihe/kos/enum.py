"""Coded values and tables of XDS-I.b manifests (RAD TF-3 §4.68.4.1.2), stored as data.

Sources: DICOM PS3.16 2024c (CID 4 Anatomic Region, CID 29 Acquisition Modality, CID 7010 Key
Object Selection Document Title, Annex L "Correspondence of Anatomic Region Codes and Body Part
Examined Defined Terms"), RAD TF-3 §4.68.4.1.2.3.2, ITI TF-3 §4.2.3.2.28. ``BODY_PART_REGIONS``
is checked against pydicom's CID 4 dictionary in ``tests/ihe/test_kos_metadata.py``.
"""

from __future__ import annotations

from enum import StrEnum

from pydicom.uid import KeyObjectSelectionDocumentStorage


class CodingScheme(StrEnum):
    """XDS ``codingScheme`` values (OIDs, as the affinity domain's ``codes.xml`` lists them)."""

    DCM = "1.2.840.10008.2.16.4"  # DICOM Controlled Terminology (PS3.16 Annex D)
    DCMUID = "1.2.840.10008.2.6.1"  # DICOM UID registry (PS3.6 Annex A): SOP classes
    SCT = "2.16.840.1.113883.6.96"  # SNOMED CT
    LOINC = "2.16.840.1.113883.6.1"


class ReferenceIdType(StrEnum):
    """CXi.5 identifier type codes of ``referenceIdList`` (ITI TF-3 §4.2.3.2.28)."""

    ACCESSION = "urn:ihe:iti:xds:2013:accession"
    STUDY_INSTANCE_UID = "urn:ihe:iti:xds:2016:studyInstanceUID"


#: SOP Class of every manifest (PS3.4 Annex B, Key Object Selection Document Storage).
KOS_SOP_CLASS_UID = str(KeyObjectSelectionDocumentStorage)

#: Document title of an XDS-I manifest, from CID 7010 (RAD TF-3 §4.68.4.1.2.1).
MANIFEST_TITLE = ("113030", "DCM", "Manifest")

#: DocumentEntry.formatCode and mimeType of a manifest (RAD TF-3 §4.68.4.1.2.3.2).
FORMAT_CODE = (KOS_SOP_CLASS_UID, CodingScheme.DCMUID.value, "Key Object Selection Document")
MIME_TYPE = "application/dicom"

#: Body Part Examined (0018,0015) defined term → CID 4 anatomic region (SNOMED CT code, meaning),
#: after PS3.16 2024c Annex L Table L-1. Terms without a CID 4 counterpart are left out: such a
#: series contributes its modality but no region to the eventCodeList.
BODY_PART_REGIONS: dict[str, tuple[str, str]] = {
    "ABDOMEN": ("818981001", "Abdomen"),
    "ABDOMENPELVIS": ("818982008", "Abdomen and Pelvis"),
    "ANKLE": ("70258002", "Ankle joint"),
    "BLADDER": ("89837001", "Bladder"),
    "BRAIN": ("12738006", "Brain"),
    "BREAST": ("76752008", "Breast"),
    "CHEST": ("816094009", "Thorax"),
    "CHESTABDOMEN": ("416550000", "Chest and Abdomen"),
    "CHESTABDPELVIS": ("416775004", "Chest, Abdomen and Pelvis"),
    "CLAVICLE": ("51299004", "Clavicle"),
    "COCCYX": ("64688005", "Coccyx"),
    "COLON": ("71854001", "Colon"),
    "CSPINE": ("122494005", "Cervical spine"),
    "ELBOW": ("16953009", "Elbow joint"),
    "EXTREMITY": ("66019005", "Extremity"),
    "EYE": ("81745001", "Eye"),
    "FACE": ("89545001", "Face"),
    "FOOT": ("56459004", "Foot"),
    "FOREARM": ("14975008", "Forearm"),
    "HAND": ("85562004", "Hand"),
    "HEAD": ("69536005", "Head"),
    "HEADNECK": ("774007", "Head and Neck"),
    "HIP": ("29836001", "Hip"),
    "KNEE": ("72696002", "Knee"),
    "LEG": ("30021000", "Lower leg"),
    "LIVER": ("10200004", "Liver"),
    "LSPINE": ("122496007", "Lumbar spine"),
    "LUNG": ("39607008", "Lung"),
    "NECK": ("45048000", "Neck"),
    "PANCREAS": ("15776009", "Pancreas"),
    "PELVIS": ("816092008", "Pelvis"),
    "PROSTATE": ("41216001", "Prostate"),
    "SACRUM": ("54735007", "Sacrum"),
    "SHOULDER": ("16982005", "Shoulder"),
    "SKULL": ("89546000", "Skull"),
    "SPINE": ("421060004", "Spine"),
    "STERNUM": ("56873002", "Sternum"),
    "STOMACH": ("69695003", "Stomach"),
    "THIGH": ("68367000", "Thigh"),
    "THYROID": ("69748006", "Thyroid"),
    "TSPINE": ("122495006", "Thoracic spine"),
    "UTERUS": ("35039007", "Uterus"),
    "WHOLEBODY": ("38266002", "Entire body"),
    "WRIST": ("74670003", "Wrist joint"),
}
