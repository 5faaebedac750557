"""ATNA audit messages: DICOM PS3.15 Annex A.5 XML, as ITI-20 Record Audit Event carries them.

Pure: the caller passes the event time and every identifier; nothing here reads a clock.
"""

from ihe.atna import enum
from ihe.atna.content import ActiveParticipant, AuditSource, EventIdentification, ParticipantObject
from ihe.atna.enum import EventActionCode, EventID, EventOutcomeIndicator, ObjectRole, ObjectType
from ihe.atna.messages import (
    AuditMessage,
    access,
    consent_change,
    document,
    emergency_override,
    patient,
    query,
    study,
    user_authentication,
)

__all__ = [
    "ActiveParticipant",
    "AuditMessage",
    "AuditSource",
    "EventActionCode",
    "EventID",
    "EventIdentification",
    "EventOutcomeIndicator",
    "ObjectRole",
    "ObjectType",
    "ParticipantObject",
    "access",
    "consent_change",
    "document",
    "emergency_override",
    "enum",
    "patient",
    "query",
    "study",
    "user_authentication",
]
