"""ebRIM objects written straight to XML text: the exact text lxml serialises for
``to_element`` (``etree.tostring(obj.to_element(), encoding="utf-8")``, decoded), without
building an element per node first, which costs several times more.

The output follows ``to_element`` move for move: the rim namespace as lxml names it when no
prefix is given (``ns0``, declared once on the root), attributes in the order ``to_element``
sets them, empty elements closed as ``<x/>`` and libxml2's escaping (attributes: ``& < > "``
and tab, line feed, carriage return as character references; text: ``& < >`` and carriage
return). A string with a character lxml refuses or might treat otherwise (control
characters, U+FFFE/U+FFFF, surrogates) is left to lxml itself, so such input fails (or not)
exactly as ``to_element`` does.
"""

from __future__ import annotations

import dataclasses
import re

from lxml import etree

from ihe.ebrim.content import (
    Association,
    Classification,
    ExternalIdentifier,
    ExtrinsicObject,
    RegistryPackage,
    Slot,
    _Object,
)
from ihe.namespaces import RIM

Written = ExtrinsicObject | RegistryPackage | Association

#: the prefix lxml gives the one namespace of a tree built without a namespace map
PREFIX = "ns0"
#: characters written as they are in both attributes and text; anything else needs a look
_PLAIN = re.compile(r"[^\x20\x21\x23-\x25\x27-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
#: characters lxml refuses (or must judge itself): the XML 1.0 Char production's complement
_NOT_XML = re.compile(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ATTRIBUTE_ESCAPES = str.maketrans({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\t": "&#9;", "\n": "&#10;",
    "\r": "&#13;",
})
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


class _NotPlain(Exception):
    """A string only lxml may judge: the object is written by lxml instead."""


def _attribute(value: str) -> str:
    if _PLAIN.search(value) is None:
        return value
    if _NOT_XML.search(value) is not None:
        raise _NotPlain
    return value.translate(_ATTRIBUTE_ESCAPES)


def _text(value: str) -> str:
    if _PLAIN.search(value) is None:
        return value
    if _NOT_XML.search(value) is not None:
        raise _NotPlain
    return value.translate(_TEXT_ESCAPES)


def object_text(obj: Written, *, status: bool = True) -> str:
    """``obj.to_element()`` serialised by lxml as UTF-8 and decoded, written directly;
    without its ``status`` attribute when ``status`` is false (as the registry stores it)."""
    try:
        out: list[str] = []
        _write(obj, out, status)
        return "".join(out)
    except _NotPlain:
        element = (obj if status else dataclasses.replace(obj, status=None)).to_element()
        return etree.tostring(element, encoding="utf-8").decode("utf-8")


_OPEN = f"<{PREFIX}:"
_CLOSE = f"</{PREFIX}:"
_DECLARATION = f' xmlns:{PREFIX}="{RIM}"'


def _write(obj: Written, out: list[str], status: bool) -> None:
    tag = obj.TAG
    out += _OPEN, tag, _DECLARATION, ' id="', _attribute(obj.id), '"'
    if isinstance(obj, ExtrinsicObject):
        if obj.mime_type:
            out += ' mimeType="', _attribute(obj.mime_type), '"'
        if obj.is_opaque:
            out += ' isOpaque="', _attribute(obj.is_opaque), '"'
    _common_attributes(obj, out, status)
    if isinstance(obj, Association):
        out += (' associationType="', _attribute(obj.association_type),
                '" sourceObject="', _attribute(obj.source_object),
                '" targetObject="', _attribute(obj.target_object), '"')
    start = len(out)
    out.append(">")
    _common_children(obj, out)
    if obj.version_name:
        out += _OPEN, 'VersionInfo versionName="', _attribute(obj.version_name), '"/>'
    for c in obj.classifications:
        _classification(c, out)
    for e in obj.external_identifiers:
        _external_identifier(e, out)
    _end(tag, out, start)


def _end(tag: str, out: list[str], start: int) -> None:
    """Close the element opened before ``out[start]`` (``">"``): ``/>`` if nothing followed."""
    if len(out) == start + 1:
        out[start] = "/>"
    else:
        out += _CLOSE, tag, ">"


def _common_attributes(obj: _Object, out: list[str], status: bool = True) -> None:
    if obj.lid:
        out += ' lid="', _attribute(obj.lid), '"'
    if obj.object_type:
        out += ' objectType="', _attribute(obj.object_type), '"'
    if status and obj.status:
        out += ' status="', _attribute(obj.status), '"'
    if obj.home:
        out += ' home="', _attribute(obj.home), '"'


def _common_children(obj: _Object, out: list[str]) -> None:
    for s in obj.slots:
        _slot(s, out)
    if obj.name is not None:
        out += _OPEN, "Name>", _OPEN, 'LocalizedString value="', _attribute(obj.name), '"/>', \
            _CLOSE, "Name>"
    if obj.description is not None:
        out += _OPEN, "Description>", _OPEN, 'LocalizedString value="', \
            _attribute(obj.description), '"/>', _CLOSE, "Description>"


def _slot(slot: Slot, out: list[str]) -> None:
    out += _OPEN, 'Slot name="', _attribute(slot.name), '"'
    if slot.slot_type:
        out += ' slotType="', _attribute(slot.slot_type), '"'
    if not slot.values:
        out += ">", _OPEN, "ValueList/>", _CLOSE, "Slot>"
        return
    out += ">", _OPEN, "ValueList>"
    for value in slot.values:
        if value is None:
            out += _OPEN, "Value/>"
        else:
            out += _OPEN, "Value>", _text(value), _CLOSE, "Value>"
    out += _CLOSE, "ValueList>", _CLOSE, "Slot>"


def _classification(c: Classification, out: list[str]) -> None:
    out += _OPEN, 'Classification id="', _attribute(c.id), '"'
    _common_attributes(c, out)
    for name, value in (
        ("classificationScheme", c.classification_scheme),
        ("classifiedObject", c.classified_object),
        ("classificationNode", c.classification_node),
        ("nodeRepresentation", c.node_representation),
    ):
        if value is not None:
            out += " ", name, '="', _attribute(value), '"'
    start = len(out)
    out.append(">")
    _common_children(c, out)
    _end("Classification", out, start)


def _external_identifier(e: ExternalIdentifier, out: list[str]) -> None:
    out += _OPEN, 'ExternalIdentifier id="', _attribute(e.id), '"'
    _common_attributes(e, out)
    out += (' registryObject="', _attribute(e.registry_object),
            '" identificationScheme="', _attribute(e.identification_scheme),
            '" value="', _attribute(e.value), '"')
    start = len(out)
    out.append(">")
    _common_children(e, out)
    _end("ExternalIdentifier", out, start)
