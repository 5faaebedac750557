"""Coded values of DICOM audit messages, stored as data.

Sources: DICOM PS3.15 2024c Annex A.5 (audit message format; A.5.1 schema, A.5.2 vocabulary),
PS3.16 2024c CID 400-405 (Audit Event ID, Event Type, Active Participant Role, Participant
Object ID Type), IHE ITI TF-2 §3.20.7 (EventTypeCode of IHE transactions, "IHE Transactions"),
RFC 3881 §5 (participant object types, roles and ID type codes) and HL7 v3 ActReason
(2.16.840.1.113883.5.8) for the purpose of use.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

#: One coded value of the audit schema: (csd-code, codeSystemName, originalText).
Code = tuple[str, str, str]


class EventID(StrEnum):
    """CID 400 Audit Event ID (DCM) used by Partage; ``.code`` gives the coded triple."""

    INSTANCES_ACCESSED = "110103"
    EXPORT = "110106"
    IMPORT = "110107"
    PATIENT_RECORD = "110110"
    QUERY = "110112"
    SECURITY_ALERT = "110113"
    USER_AUTHENTICATION = "110114"

    @property
    def code(self) -> Code:
        return (self.value, "DCM", _EVENT_MEANINGS[self.value])


_EVENT_MEANINGS = {
    "110103": "DICOM Instances Accessed", "110106": "Export", "110107": "Import",
    "110110": "Patient Record", "110112": "Query", "110113": "Security Alert",
    "110114": "User Authentication",
}


class EventActionCode(StrEnum):
    """PS3.15 A.5.1 EventActionCode (RFC 3881 §5.1.2)."""

    CREATE = "C"
    READ = "R"
    UPDATE = "U"
    DELETE = "D"
    EXECUTE = "E"


class EventOutcomeIndicator(IntEnum):
    """PS3.15 A.5.1 EventOutcomeIndicator (RFC 3881 §5.1.4)."""

    SUCCESS = 0
    MINOR_FAILURE = 4
    SERIOUS_FAILURE = 8
    MAJOR_FAILURE = 12


class ObjectType(IntEnum):
    """ParticipantObjectTypeCode (RFC 3881 §5.5.1)."""

    PERSON = 1
    SYSTEM_OBJECT = 2


class ObjectRole(IntEnum):
    """ParticipantObjectTypeCodeRole (RFC 3881 §5.5.2)."""

    PATIENT = 1
    REPORT = 3
    QUERY = 24


class NetworkAccessPointType(IntEnum):
    """NetworkAccessPointTypeCode (RFC 3881 §5.3.1)."""

    MACHINE_NAME = 1
    IP_ADDRESS = 2


# -- EventTypeCode (CID 401, ITI TF-2 "IHE Transactions") -----------------------------------
LOGIN: Code = ("110122", "DCM", "Login")
EMERGENCY_OVERRIDE_STARTED: Code = ("110127", "DCM", "Emergency Override Started")
ITI_18: Code = ("ITI-18", "IHE Transactions", "Registry Stored Query")
ITI_41: Code = ("ITI-41", "IHE Transactions", "Provide and Register Document Set-b")
ITI_43: Code = ("ITI-43", "IHE Transactions", "Retrieve Document Set")
RAD_68: Code = ("RAD-68", "IHE Transactions",
                "Provide and Register Imaging Document Set - MTOM/XOP")
RAD_69: Code = ("RAD-69", "IHE Transactions", "Retrieve Imaging Document Set")
RAD_107: Code = ("RAD-107", "IHE Transactions", "WADO Retrieve")
#: Partage's own code for a change of a patient's sharing policy (no standard code exists).
CONSENT_CHANGE: Code = ("consent-change", "urn:partage:audit", "Consent change")

# -- RoleIDCode (CID 402) -------------------------------------------------------------------
SOURCE_ROLE: Code = ("110153", "DCM", "Source Role ID")
DESTINATION_ROLE: Code = ("110152", "DCM", "Destination Role ID")
APPLICATION: Code = ("110150", "DCM", "Application")
#: Code system of the users' own roles (radiologist, patient …) as the token gives them.
USER_ROLE_SYSTEM = "urn:partage:role"
#: Code system of the RoleIDCode naming a user's organisation (A.5 has no attribute for it).
ORGANISATION_SYSTEM = "urn:partage:organisation"

# -- ParticipantObjectIDTypeCode (CID 404, RFC 3881 §5.5.4) ---------------------------------
PATIENT_NUMBER: Code = ("2", "RFC-3881", "Patient Number")
REPORT_NUMBER: Code = ("9", "RFC-3881", "Report Number")
STUDY_INSTANCE_UID: Code = ("110180", "DCM", "Study Instance UID")
#: ParticipantObjectDetail type of the written reason of an emergency access.
EMERGENCY_REASON_DETAIL = "EmergencyReason"

# -- PurposeOfUse (HL7 v3 ActReason) ---------------------------------------------------------
PURPOSE_SYSTEM = "2.16.840.1.113883.5.8"
PURPOSES = {"TREAT": "Treatment", "ETREAT": "Emergency Treatment", "PATRQT": "Patient requested",
            "HOPERAT": "Healthcare operations", "PUBHLTH": "Public health"}


def purpose(code: str) -> Code:
    """The coded purpose of use for an ActReason code (``TREAT``, ``ETREAT`` …)."""
    return (code, PURPOSE_SYSTEM, PURPOSES.get(code, code))
