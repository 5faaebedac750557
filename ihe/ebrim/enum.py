"""XDS.b identifiers as data (ITI TF-3 Rev. 19 §4.2.5, checked against the IHE registry
initialisation file ``XDSb.Registry.Initialization/initialize.xml``)."""

from __future__ import annotations

from enum import StrEnum


class ResponseStatus(StrEnum):
    SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
    FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
    PARTIAL_SUCCESS = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"


class Severity(StrEnum):
    ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
    WARNING = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"


class Status(StrEnum):
    """availabilityStatus of registry objects."""

    APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
    DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
    SUBMITTED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Submitted"


class AssociationType(StrEnum):
    HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
    RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
    APND = "urn:ihe:iti:2007:AssociationType:APND"
    XFRM = "urn:ihe:iti:2007:AssociationType:XFRM"
    XFRM_RPLC = "urn:ihe:iti:2007:AssociationType:XFRM_RPLC"
    SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
    IS_SNAPSHOT_OF = "urn:ihe:iti:2010:AssociationType:IsSnapshotOf"
    UPDATE_AVAILABILITY_STATUS = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
    SUBMIT_ASSOCIATION = "urn:ihe:iti:2010:AssociationType:SubmitAssociation"


#: ebRIM 2.1 short association types still sent by older sources (the IHE ITI-INFO XDS.b
#: samples use ``HasMember``); NIST's TranslateToV3 maps them the same way.
LEGACY_ASSOCIATION_TYPES = {
    "HasMember": AssociationType.HAS_MEMBER,
    "RPLC": AssociationType.RPLC,
    "APND": AssociationType.APND,
    "XFRM": AssociationType.XFRM,
    "XFRM_RPLC": AssociationType.XFRM_RPLC,
    "signs": AssociationType.SIGNS,
}

#: Association types that link a new document to an existing one (ITI TF-3 §4.2.2).
DOCUMENT_RELATIONSHIPS = frozenset(
    {
        AssociationType.RPLC,
        AssociationType.APND,
        AssociationType.XFRM,
        AssociationType.XFRM_RPLC,
        AssociationType.SIGNS,
    }
)
#: Those that deprecate their target.
REPLACEMENTS = frozenset({AssociationType.RPLC, AssociationType.XFRM_RPLC})


class ObjectType(StrEnum):
    STABLE_DOCUMENT = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
    ON_DEMAND_DOCUMENT = "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"
    REGISTRY_PACKAGE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
    ASSOCIATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association"
    CLASSIFICATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
    EXTERNAL_IDENTIFIER = (
        "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier"
    )


class Node(StrEnum):
    """Classification nodes that make a RegistryPackage a SubmissionSet or a Folder."""

    SUBMISSION_SET = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
    FOLDER = "urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"


class Scheme(StrEnum):
    """Classification and identification schemes of XDS.b attributes."""

    DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
    DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
    SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
    SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
    SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
    FOL_PATIENT_ID = "urn:uuid:f64ffdf0-4b97-4e06-b79f-a52b38ec2f8a"
    FOL_UNIQUE_ID = "urn:uuid:75df8f67-9973-4fbe-a900-df66cefecc5a"

    DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
    DE_CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
    DE_CONFIDENTIALITY_CODE = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
    DE_EVENT_CODE = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
    DE_FORMAT_CODE = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
    DE_HEALTHCARE_FACILITY_TYPE_CODE = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
    DE_PRACTICE_SETTING_CODE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
    DE_TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
    SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
    SS_CONTENT_TYPE_CODE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
    FOL_CODE_LIST = "urn:uuid:1ba97051-7806-41a8-a48b-8fce7af683c5"
    ASSOCIATION_DOCUMENTATION = "urn:uuid:abd807a3-4432-4053-87b4-fd82c643d1f3"


#: Human names of ExternalIdentifier schemes, as the TF writes them in <rim:Name>.
IDENTIFIER_NAMES = {
    Scheme.DE_PATIENT_ID: "XDSDocumentEntry.patientId",
    Scheme.DE_UNIQUE_ID: "XDSDocumentEntry.uniqueId",
    Scheme.SS_PATIENT_ID: "XDSSubmissionSet.patientId",
    Scheme.SS_SOURCE_ID: "XDSSubmissionSet.sourceId",
    Scheme.SS_UNIQUE_ID: "XDSSubmissionSet.uniqueId",
    Scheme.FOL_PATIENT_ID: "XDSFolder.patientId",
    Scheme.FOL_UNIQUE_ID: "XDSFolder.uniqueId",
}

#: Reference ID types of XDS-I.b (ITI TF-3 §4.2.3.2.28, CP-ITI-1006).
REFERENCE_ID_ACCESSION = "urn:ihe:iti:xds:2013:accession"
REFERENCE_ID_STUDY_INSTANCE_UID = "urn:ihe:iti:xds:2016:studyInstanceUID"
REFERENCE_ID_SLOT = "urn:ihe:iti:xds:2013:referenceIdList"

#: KOS format code of XDS-I.b manifests (RAD TF-3 §4.68.4.1.2.3.2).
KOS_FORMAT_CODE = "1.2.840.10008.5.1.4.1.1.88.59"
KOS_FORMAT_CODING_SCHEME = "1.2.840.10008.2.6.1"
