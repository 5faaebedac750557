"""Building blocks of a DICOM audit message (PS3.15 A.5.1), each valid once constructed."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime

from lxml import etree

from ihe.atna.enum import (
    ORGANISATION_SYSTEM,
    Code,
    EventActionCode,
    EventOutcomeIndicator,
    NetworkAccessPointType,
    ObjectRole,
    ObjectType,
)
from ihe.errors import LocalProtocolError, RemoteProtocolError


def _code(parent: etree._Element, tag: str, code: Code) -> etree._Element:
    """A ``CodedValueType`` element: csd-code, codeSystemName, originalText (A.5.1)."""
    return etree.SubElement(parent, tag, {"csd-code": code[0], "codeSystemName": code[1],
                                          "originalText": code[2]})


def _read_code(element: etree._Element) -> Code:
    try:
        return (element.attrib["csd-code"], element.attrib["codeSystemName"],
                element.get("originalText") or element.get("displayName") or "")
    except KeyError as exc:
        raise RemoteProtocolError(f"{element.tag} lacks {exc.args[0]}") from None


def _require(value: str, what: str) -> None:
    if not value:
        raise LocalProtocolError(f"{what} is required (PS3.15 A.5.1)")


@dataclass(frozen=True)
class EventIdentification:
    """What happened, when, with which outcome, why (purpose of use)."""

    event_id: Code
    action: EventActionCode
    date_time: datetime
    outcome: EventOutcomeIndicator = EventOutcomeIndicator.SUCCESS
    type_codes: tuple[Code, ...] = ()
    purposes: tuple[Code, ...] = ()

    def __post_init__(self) -> None:
        if self.date_time.tzinfo is None:
            raise ValueError("EventDateTime must carry its UTC offset (xs:dateTime, RFC 3881)")

    def write(self, parent: etree._Element) -> None:
        node = etree.SubElement(parent, "EventIdentification", {
            "EventActionCode": self.action.value,
            "EventDateTime": self.date_time.isoformat(timespec="milliseconds"),
            "EventOutcomeIndicator": str(int(self.outcome))})
        _code(node, "EventID", self.event_id)
        for code in self.type_codes:
            _code(node, "EventTypeCode", code)
        for code in self.purposes:
            _code(node, "PurposeOfUse", code)

    @classmethod
    def read(cls, node: etree._Element) -> EventIdentification:
        event_id = node.find("EventID")
        if event_id is None:
            raise RemoteProtocolError("EventIdentification lacks EventID")
        try:
            return cls(event_id=_read_code(event_id),
                       action=EventActionCode(node.get("EventActionCode", "E")),
                       date_time=datetime.fromisoformat(node.attrib["EventDateTime"]),
                       outcome=EventOutcomeIndicator(int(node.attrib["EventOutcomeIndicator"])),
                       type_codes=tuple(_read_code(e) for e in node.iterfind("EventTypeCode")),
                       purposes=tuple(_read_code(e) for e in node.iterfind("PurposeOfUse")))
        except (KeyError, ValueError) as exc:
            raise RemoteProtocolError(f"bad EventIdentification: {exc}") from None


@dataclass(frozen=True)
class ActiveParticipant:
    """A user or system taking part: ``user_id`` is the token's subject, ``alternative_id``
    the professional's RPPS, roles are RoleIDCodes (CID 402 or the token's roles). A.5 has no
    organisation attribute: ``organisation`` travels as a RoleIDCode of ``ORGANISATION_SYSTEM``
    so the patient's access log can say where the professional works."""

    user_id: str
    is_requestor: bool
    user_name: str = ""
    alternative_id: str = ""
    roles: tuple[Code, ...] = ()
    network_access_point: str = ""
    network_access_point_type: NetworkAccessPointType = NetworkAccessPointType.IP_ADDRESS
    organisation: str = ""

    def __post_init__(self) -> None:
        _require(self.user_id, "ActiveParticipant UserID")

    def write(self, parent: etree._Element) -> None:
        attrs = {"UserID": self.user_id,
                 "UserIsRequestor": "true" if self.is_requestor else "false"}
        if self.alternative_id:
            attrs["AlternativeUserID"] = self.alternative_id
        if self.user_name:
            attrs["UserName"] = self.user_name
        if self.network_access_point:
            attrs["NetworkAccessPointID"] = self.network_access_point
            attrs["NetworkAccessPointTypeCode"] = str(int(self.network_access_point_type))
        node = etree.SubElement(parent, "ActiveParticipant", attrs)
        for role in self.roles:
            _code(node, "RoleIDCode", role)
        if self.organisation:
            _code(node, "RoleIDCode", (self.organisation, ORGANISATION_SYSTEM, self.organisation))

    @classmethod
    def read(cls, node: etree._Element) -> ActiveParticipant:
        codes = [_read_code(e) for e in node.iterfind("RoleIDCode")]
        try:
            return cls(user_id=node.attrib["UserID"],
                       is_requestor=node.get("UserIsRequestor", "true") in ("true", "1"),
                       user_name=node.get("UserName", ""),
                       alternative_id=node.get("AlternativeUserID", ""),
                       roles=tuple(c for c in codes if c[1] != ORGANISATION_SYSTEM),
                       organisation=next((c[0] for c in codes if c[1] == ORGANISATION_SYSTEM), ""),
                       network_access_point=node.get("NetworkAccessPointID", ""),
                       network_access_point_type=NetworkAccessPointType(
                           int(node.get("NetworkAccessPointTypeCode", "2"))))
        except (KeyError, ValueError) as exc:
            raise RemoteProtocolError(f"bad ActiveParticipant: {exc}") from None


@dataclass(frozen=True)
class AuditSource:
    """The system that saw the event; ``site`` is its enterprise site (the site's OID)."""

    source_id: str
    site: str = ""

    def __post_init__(self) -> None:
        _require(self.source_id, "AuditSourceID")

    def write(self, parent: etree._Element) -> None:
        attrs = {"AuditSourceID": self.source_id}
        if self.site:
            attrs["AuditEnterpriseSiteID"] = self.site
        etree.SubElement(parent, "AuditSourceIdentification", attrs)

    @classmethod
    def read(cls, node: etree._Element) -> AuditSource:
        source_id = node.get("AuditSourceID", "")
        if not source_id:
            raise RemoteProtocolError("AuditSourceIdentification lacks AuditSourceID")
        return cls(source_id=source_id, site=node.get("AuditEnterpriseSiteID", ""))


@dataclass(frozen=True)
class ParticipantObject:
    """A patient, study, document or query the event touched; ``query`` is the raw query
    (ParticipantObjectQuery, base64 on the wire), ``details`` are (type, text) pairs."""

    object_id: str
    id_type: Code
    object_type: ObjectType
    role: ObjectRole | None = None
    query: bytes = b""
    details: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        _require(self.object_id, "ParticipantObjectID")

    def write(self, parent: etree._Element) -> None:
        attrs = {"ParticipantObjectID": self.object_id,
                 "ParticipantObjectTypeCode": str(int(self.object_type))}
        if self.role is not None:
            attrs["ParticipantObjectTypeCodeRole"] = str(int(self.role))
        node = etree.SubElement(parent, "ParticipantObjectIdentification", attrs)
        _code(node, "ParticipantObjectIDTypeCode", self.id_type)
        if self.query:
            etree.SubElement(node, "ParticipantObjectQuery").text = (
                base64.b64encode(self.query).decode("ascii"))
        for kind, text in self.details:
            etree.SubElement(node, "ParticipantObjectDetail", {
                "type": kind, "value": base64.b64encode(text.encode()).decode("ascii")})

    @classmethod
    def read(cls, node: etree._Element) -> ParticipantObject:
        id_type = node.find("ParticipantObjectIDTypeCode")
        if id_type is None:
            raise RemoteProtocolError("ParticipantObjectIdentification lacks its ID type code")
        try:
            role = node.get("ParticipantObjectTypeCodeRole")
            query = node.findtext("ParticipantObjectQuery") or ""
            return cls(object_id=node.attrib["ParticipantObjectID"], id_type=_read_code(id_type),
                       object_type=ObjectType(int(node.attrib["ParticipantObjectTypeCode"])),
                       role=ObjectRole(int(role)) if role else None,
                       query=base64.b64decode(query, validate=True),
                       details=tuple((d.attrib["type"],
                                      base64.b64decode(d.attrib["value"], validate=True).decode())
                                     for d in node.iterfind("ParticipantObjectDetail")))
        except (KeyError, ValueError) as exc:
            raise RemoteProtocolError(f"bad ParticipantObjectIdentification: {exc}") from None
