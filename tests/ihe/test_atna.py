"""ATNA audit messages: build → bytes → parse round trips, the A.5 structure, refusals.

No DICOM audit schema (PS3.15 A.5.1 RELAX NG) is in ../shared/conformance/schemas, so the
structure is checked element by element against A.5.1 instead of by schema validation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

import ihe.atna as atna
from ihe.atna import enum
from ihe.errors import LocalProtocolError, RemoteProtocolError, XmlSecurityError

WHEN = datetime(2026, 11, 27, 20, 5, 1, 250000, tzinfo=UTC)
PATIENT = "2801205123456^^^&1.2.250.1.213.1.4.10&ISO"
USER = atna.ActiveParticipant("dr-martin", True, "Dr Martin", "10001234567",
                              (("radiologist", enum.USER_ROLE_SYSTEM, "radiologist"),),
                              "10.0.0.7", organisation="CHU Nord")
SOURCE = atna.AuditSource("gateway-a", "1.2.250.1.999.1")


def messages() -> list[atna.AuditMessage]:
    return [
        atna.user_authentication(when=WHEN, user=USER, source=SOURCE),
        atna.query(when=WHEN, user=USER, source=SOURCE, patient_id=PATIENT,
                   query_bytes=b"<AdhocQueryRequest/>"),
        atna.access(event=atna.EventID.EXPORT, transaction=enum.RAD_69, when=WHEN, user=USER,
                    source=SOURCE, patient_id=PATIENT, study_uids=("1.2.3.4",)),
        atna.access(event=atna.EventID.INSTANCES_ACCESSED, transaction=enum.RAD_107, when=WHEN,
                    user=USER, source=SOURCE, patient_id=PATIENT, study_uids=("1.2.3.4", "1.2.5"),
                    emergency_reason="unconscious patient, prior CT needed"),
        atna.access(event=atna.EventID.IMPORT, transaction=enum.RAD_68, when=WHEN, user=USER,
                    source=SOURCE, patient_id=PATIENT, study_uids=("1.2.3.4",),
                    document_ids=("1.2.3.4.99",)),
        atna.consent_change(when=WHEN, user=USER, source=SOURCE, patient_id=PATIENT,
                            change="block site 1.2.250.1.999.2"),
    ]


@pytest.mark.parametrize("message", messages(), ids=lambda m: m.event.event_id[2])
def test_round_trip(message: atna.AuditMessage) -> None:
    data = message.to_bytes()
    assert atna.AuditMessage.from_bytes(data) == message
    assert atna.AuditMessage.from_bytes(data).to_bytes() == data


def test_structure_follows_a51() -> None:
    from lxml import etree
    message = messages()[1]
    root = etree.fromstring(message.to_bytes())
    assert [c.tag for c in root] == ["EventIdentification", "ActiveParticipant",
                                     "AuditSourceIdentification",
                                     "ParticipantObjectIdentification",
                                     "ParticipantObjectIdentification"]
    event = root[0]
    assert event.get("EventActionCode") == "E"
    assert event.get("EventDateTime") == "2026-11-27T20:05:01.250+00:00"
    assert event.get("EventOutcomeIndicator") == "0"
    assert [c.tag for c in event] == ["EventID", "EventTypeCode", "PurposeOfUse"]
    assert event[0].attrib == {"csd-code": "110112", "codeSystemName": "DCM",
                               "originalText": "Query"}
    assert event[1].get("csd-code") == "ITI-18"
    user = root[1]
    assert user.get("UserID") == "dr-martin" and user.get("AlternativeUserID") == "10001234567"
    assert user.get("UserIsRequestor") == "true" and user.get("NetworkAccessPointTypeCode") == "2"
    query = root[4]
    assert query.get("ParticipantObjectTypeCodeRole") == "24"
    assert base64.b64decode(query.findtext("ParticipantObjectQuery")) == b"<AdhocQueryRequest/>"


def test_emergency_is_flagged_with_reason() -> None:
    emergency = messages()[3]
    assert emergency.emergency
    assert emergency.emergency_reason == "unconscious patient, prior CT needed"
    assert [c[0] for c in emergency.event.type_codes] == ["RAD-107", "110127"]
    assert emergency.event.purposes[0][0] == "ETREAT"
    assert not messages()[2].emergency and messages()[2].emergency_reason == ""
    assert emergency.object_ids(enum.STUDY_INSTANCE_UID) == ["1.2.3.4", "1.2.5"]
    assert emergency.requestor.organisation == "CHU Nord"


def test_constructors_refuse() -> None:
    with pytest.raises(ValueError, match="written reason"):
        atna.access(event=atna.EventID.EXPORT, transaction=enum.RAD_69, when=WHEN, user=USER,
                    source=SOURCE, patient_id=PATIENT, study_uids=("1",), purpose_of_use="ETREAT")
    with pytest.raises(ValueError, match="study or document"):
        atna.access(event=atna.EventID.EXPORT, transaction=enum.RAD_69, when=WHEN, user=USER,
                    source=SOURCE, patient_id=PATIENT)
    with pytest.raises(ValueError, match="UTC offset"):
        atna.user_authentication(when=datetime(2026, 1, 1), user=USER, source=SOURCE)
    with pytest.raises(LocalProtocolError):
        atna.ActiveParticipant("", True)
    with pytest.raises(LocalProtocolError):
        atna.AuditMessage(messages()[0].event, (), SOURCE)


@pytest.mark.parametrize("data, error", [
    (b"<AuditMessage>", RemoteProtocolError),
    (b"<Other/>", RemoteProtocolError),
    (b"<AuditMessage><AuditSourceIdentification AuditSourceID='x'/></AuditMessage>",
     RemoteProtocolError),
    (b'<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><AuditMessage>&x;</AuditMessage>',
     XmlSecurityError),
    (b'<!DOCTYPE a [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><AuditMessage>&b;</AuditMessage>',
     XmlSecurityError),
])
def test_from_bytes_refuses(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        atna.AuditMessage.from_bytes(data)


@pytest.mark.parametrize("old, new", [
    (b'EventOutcomeIndicator="0"', b'EventOutcomeIndicator="3"'),
    (b'UserID="dr-martin"', b'UserID=""'),
    (b'+00:00"', b'"'),
])
def test_bad_values_are_remote_errors(old: bytes, new: bytes) -> None:
    data = messages()[0].to_bytes()
    assert old in data
    with pytest.raises(RemoteProtocolError):
        atna.AuditMessage.from_bytes(data.replace(old, new))
