"""Hardened XML parsing: no DTD, no entities, no network, bounded size.

Every byte that arrives from the network is parsed here. DOCTYPE declarations are refused
outright, which rules out XXE and entity-expansion bombs (billion laughs, quadratic blowup)
without relying on parser limits.
"""

from __future__ import annotations

from lxml import etree

from ihe.errors import RemoteProtocolError, XmlSecurityError

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_blank_text=False,
    collect_ids=False,
)


def parse(data: bytes) -> etree._Element:
    """Parse untrusted XML bytes; raise ``XmlSecurityError`` for DTDs, ``RemoteProtocolError``
    for anything malformed."""
    head = data[:4096].lstrip()
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise XmlSecurityError("DTD and entity declarations are not accepted", "XDSRegistryError")
    if not head:
        raise RemoteProtocolError("empty XML document")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise RemoteProtocolError(f"malformed XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise XmlSecurityError("DTD declarations are not accepted")
    return root


def to_bytes(element: etree._Element) -> bytes:
    """Serialise an element as UTF-8 without an XML declaration (it is embedded in SOAP)."""
    return etree.tostring(element, encoding="utf-8")
