"""SOAP 1.2 envelope with the WS-Addressing headers XDS.b requires (ITI TF-2x §V.3).

``Envelope.from_bytes`` refuses anything that is not a SOAP 1.2 envelope with exactly one body
element; ``Fault`` is what a service answers then (SOAP 1.2 Part 1 §5.4).
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from ihe import xml
from ihe.errors import RemoteProtocolError
from ihe.namespaces import SOAP12, WSA, q


@dataclass
class Envelope:
    body: etree._Element
    action: str | None = None
    message_id: str | None = None
    to: str | None = None
    relates_to: str | None = None
    reply_to: str | None = None

    @classmethod
    def from_element(cls, root: etree._Element) -> Envelope:
        if root.tag != q(SOAP12, "Envelope"):
            ns = etree.QName(root).namespace
            if ns == "http://schemas.xmlsoap.org/soap/envelope/":
                raise RemoteProtocolError("SOAP 1.1 is not supported; use SOAP 1.2", "VersionMismatch")
            raise RemoteProtocolError("not a SOAP 1.2 Envelope")
        header = root.find(q(SOAP12, "Header"))
        body = root.find(q(SOAP12, "Body"))
        if body is None:
            raise RemoteProtocolError("SOAP Envelope without Body")
        children = [c for c in body if isinstance(c.tag, str)]
        if len(children) != 1:
            raise RemoteProtocolError("SOAP Body must hold exactly one element")

        def wsa(local: str) -> str | None:
            if header is None:
                return None
            el = header.find(q(WSA, local))
            if el is None:
                return None
            if local == "ReplyTo":
                addr = el.find(q(WSA, "Address"))
                return (addr.text or "").strip() if addr is not None else None
            return (el.text or "").strip()

        return cls(
            body=children[0],
            action=wsa("Action"),
            message_id=wsa("MessageID"),
            to=wsa("To"),
            relates_to=wsa("RelatesTo"),
            reply_to=wsa("ReplyTo"),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        return cls.from_element(xml.parse(data))

    def to_element(self) -> etree._Element:
        env = etree.Element(q(SOAP12, "Envelope"), nsmap={"soap": SOAP12, "wsa": WSA})
        header = etree.SubElement(env, q(SOAP12, "Header"))
        must = {q(SOAP12, "mustUnderstand"): "true"}
        if self.action:
            etree.SubElement(header, q(WSA, "Action"), must).text = self.action
        if self.message_id:
            etree.SubElement(header, q(WSA, "MessageID")).text = self.message_id
        if self.relates_to:
            etree.SubElement(header, q(WSA, "RelatesTo")).text = self.relates_to
        if self.reply_to:
            reply = etree.SubElement(header, q(WSA, "ReplyTo"))
            etree.SubElement(reply, q(WSA, "Address")).text = self.reply_to
        if self.to:
            etree.SubElement(header, q(WSA, "To"), must).text = self.to
        etree.SubElement(env, q(SOAP12, "Body")).append(self.body)
        return env

    def to_bytes(self) -> bytes:
        return etree.tostring(self.to_element(), encoding="utf-8", xml_declaration=True)


@dataclass
class Fault:
    """A SOAP 1.2 fault. ``code`` is ``Sender`` for bad requests, ``Receiver`` for our faults."""

    reason: str
    code: str = "Sender"
    subcode: str | None = None

    def to_element(self) -> etree._Element:
        fault = etree.Element(q(SOAP12, "Fault"), nsmap={"soap": SOAP12})
        code = etree.SubElement(fault, q(SOAP12, "Code"))
        etree.SubElement(code, q(SOAP12, "Value")).text = f"soap:{self.code}"
        if self.subcode:
            sub = etree.SubElement(code, q(SOAP12, "Subcode"))
            etree.SubElement(sub, q(SOAP12, "Value")).text = self.subcode
        reason = etree.SubElement(fault, q(SOAP12, "Reason"))
        text = etree.SubElement(reason, q(SOAP12, "Text"))
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        text.text = self.reason
        return fault

    @classmethod
    def from_element(cls, el: etree._Element) -> Fault:
        value = el.findtext(f"{q(SOAP12, 'Code')}/{q(SOAP12, 'Value')}") or ""
        reason = el.findtext(f"{q(SOAP12, 'Reason')}/{q(SOAP12, 'Text')}") or ""
        sub = el.findtext(f"{q(SOAP12, 'Code')}/{q(SOAP12, 'Subcode')}/{q(SOAP12, 'Value')}")
        return cls(reason=reason, code=value.split(":")[-1], subcode=sub)

    def envelope(self, relates_to: str | None = None) -> Envelope:
        from ihe.soap.actions import Action

        return Envelope(body=self.to_element(), action=Action.SOAP_FAULT, relates_to=relates_to)
