"""ebRIM 3.0 registry objects as plain dataclasses (OASIS regrep-rim-3.0, ITI TF-3 §4.2.3).

Objects are parsed eagerly from lxml elements so parsed and built objects look the same, and
serialise back with ``to_element``. Element order follows rim.xsd: Slot, Name, Description,
VersionInfo, Classification, ExternalIdentifier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from lxml import etree

from ihe.ebrim.enum import Node, ObjectType, Scheme, Status
from ihe.errors import RemoteProtocolError
from ihe.namespaces import RIM, q

_SLOT, _VALUE_LIST, _VALUE = q(RIM, "Slot"), q(RIM, "ValueList"), q(RIM, "Value")
_NAME, _DESCRIPTION, _LOCALIZED_STRING = (
    q(RIM, "Name"), q(RIM, "Description"), q(RIM, "LocalizedString"))
_VERSION_INFO, _CLASSIFICATION, _EXTERNAL_IDENTIFIER = (
    q(RIM, "VersionInfo"), q(RIM, "Classification"), q(RIM, "ExternalIdentifier"))


@dataclass
class Slot:
    name: str
    values: list[str] = field(default_factory=list)
    slot_type: str | None = None

    @classmethod
    def from_element(cls, el: etree._Element) -> Slot:
        name = el.get("name")
        if not name:
            raise RemoteProtocolError("Slot without a name", "XDSRegistryMetadataError")
        values = [
            v.text or "" for vl in el if vl.tag == _VALUE_LIST for v in vl if v.tag == _VALUE
        ]
        return cls(name=name, values=values, slot_type=el.get("slotType"))

    def to_element(self) -> etree._Element:
        el = etree.Element(q(RIM, "Slot"), name=self.name)
        if self.slot_type:
            el.set("slotType", self.slot_type)
        vl = etree.SubElement(el, q(RIM, "ValueList"))
        for value in self.values:
            etree.SubElement(vl, q(RIM, "Value")).text = value
        return el


def _localized(el: etree._Element | None) -> str | None:
    """The value of the first LocalizedString of a Name or Description."""
    if el is None:
        return None
    for ls in el:
        if ls.tag == _LOCALIZED_STRING:
            return ls.get("value")
    return None


def _add_localized(parent: etree._Element, tag: str, value: str | None) -> None:
    if value is not None:
        holder = etree.SubElement(parent, q(RIM, tag))
        etree.SubElement(holder, q(RIM, "LocalizedString"), value=value)


def _read_children(el: etree._Element, composed: bool) -> tuple[
    list[Slot], str | None, str | None, str | None, list[Classification],
    list[ExternalIdentifier],
]:
    """Slots, Name, Description, VersionInfo's versionName, Classifications and
    ExternalIdentifiers of an object element (of Name, Description and VersionInfo the first
    counts), in one walk over its children: a ``find`` per kind of child would walk them again
    each time. Classifications and ExternalIdentifiers are read only for a ``composed`` object
    (a RegistryObject); others ignore them."""
    slots: list[Slot] = []
    classifications: list[Classification] = []
    identifiers: list[ExternalIdentifier] = []
    first: dict[object, etree._Element] = {}
    for child in el:
        tag = child.tag
        if tag == _SLOT:
            slots.append(Slot.from_element(child))
        elif composed and tag == _CLASSIFICATION:
            classifications.append(Classification.from_element(child))
        elif composed and tag == _EXTERNAL_IDENTIFIER:
            identifiers.append(ExternalIdentifier.from_element(child))
        elif tag not in first:
            first[tag] = child
    info = first.get(_VERSION_INFO)
    return (
        slots, _localized(first.get(_NAME)), _localized(first.get(_DESCRIPTION)),
        info.get("versionName") if info is not None else None, classifications, identifiers,
    )


@dataclass
class _Object:
    """Common part of RegistryObject: id, slots, name, description."""

    TAG: ClassVar[str] = "RegistryObject"

    id: str
    slots: list[Slot] = field(default_factory=list)
    name: str | None = None
    description: str | None = None
    object_type: str | None = None
    lid: str | None = None
    home: str | None = None
    status: str | None = None

    # -- slot helpers -------------------------------------------------------------------------
    # plain loops: validation and indexing call these hundreds of times per submission
    def slot(self, name: str) -> Slot | None:
        for s in self.slots:
            if s.name == name:
                return s
        return None

    def slot_values(self, name: str) -> list[str]:
        s = self.slot(name)
        return list(s.values) if s else []

    def slot_value(self, name: str) -> str | None:
        s = self.slot(name)
        return s.values[0] if s and s.values else None

    def set_slot(self, name: str, values: list[str]) -> None:
        existing = self.slot(name)
        if existing:
            existing.values = list(values)
        else:
            self.slots.append(Slot(name, list(values)))

    # -- (de)serialisation -------------------------------------------------------------------
    def _read_common(self, el: etree._Element) -> None:
        self._read_attributes(el)
        self.slots, self.name, self.description, *_ = _read_children(el, composed=False)

    def _read_attributes(self, el: etree._Element) -> None:
        self.object_type = el.get("objectType")
        self.lid = el.get("lid")
        self.home = el.get("home")
        self.status = el.get("status")

    def _write_common(self, el: etree._Element) -> None:
        for attr, value in (
            ("lid", self.lid),
            ("objectType", self.object_type),
            ("status", self.status),
            ("home", self.home),
        ):
            if value:
                el.set(attr, value)
        for s in self.slots:
            el.append(s.to_element())
        _add_localized(el, "Name", self.name)
        _add_localized(el, "Description", self.description)


@dataclass
class Classification(_Object):
    TAG: ClassVar[str] = "Classification"

    classification_scheme: str | None = None
    classified_object: str = ""
    classification_node: str | None = None
    node_representation: str | None = None

    @classmethod
    def from_element(cls, el: etree._Element) -> Classification:
        obj = cls(
            id=el.get("id") or "",
            classification_scheme=el.get("classificationScheme"),
            classified_object=el.get("classifiedObject") or "",
            classification_node=el.get("classificationNode"),
            node_representation=el.get("nodeRepresentation"),
        )
        obj._read_common(el)
        return obj

    def to_element(self) -> etree._Element:
        el = etree.Element(q(RIM, "Classification"), id=self.id)
        self._write_common(el)
        for attr, value in (
            ("classificationScheme", self.classification_scheme),
            ("classifiedObject", self.classified_object),
            ("classificationNode", self.classification_node),
            ("nodeRepresentation", self.node_representation),
        ):
            if value is not None:
                el.set(attr, value)
        return el

    @property
    def coding_scheme(self) -> str | None:
        return self.slot_value("codingScheme")


@dataclass
class ExternalIdentifier(_Object):
    TAG: ClassVar[str] = "ExternalIdentifier"

    identification_scheme: str = ""
    registry_object: str = ""
    value: str = ""

    @classmethod
    def from_element(cls, el: etree._Element) -> ExternalIdentifier:
        obj = cls(
            id=el.get("id") or "",
            identification_scheme=el.get("identificationScheme") or "",
            registry_object=el.get("registryObject") or "",
            value=el.get("value") or "",
        )
        obj._read_common(el)
        return obj

    def to_element(self) -> etree._Element:
        el = etree.Element(q(RIM, "ExternalIdentifier"), id=self.id)
        self._write_common(el)
        el.set("registryObject", self.registry_object)
        el.set("identificationScheme", self.identification_scheme)
        el.set("value", self.value)
        return el


@dataclass
class RegistryObject(_Object):
    """An identifiable object with classifications and external identifiers."""

    classifications: list[Classification] = field(default_factory=list)
    external_identifiers: list[ExternalIdentifier] = field(default_factory=list)
    version_name: str | None = None

    def _read_common(self, el: etree._Element) -> None:
        self._read_attributes(el)
        (self.slots, self.name, self.description, self.version_name, self.classifications,
         self.external_identifiers) = _read_children(el, composed=True)

    def _write_common(self, el: etree._Element) -> None:
        super()._write_common(el)
        if self.version_name:
            etree.SubElement(el, q(RIM, "VersionInfo"), versionName=self.version_name)
        for c in self.classifications:
            el.append(c.to_element())
        for e in self.external_identifiers:
            el.append(e.to_element())

    # -- XDS attribute accessors ----------------------------------------------------------------
    def classified(self, scheme: str) -> list[Classification]:
        return [c for c in self.classifications if c.classification_scheme == scheme]

    def external_id(self, scheme: str) -> str | None:
        for e in self.external_identifiers:
            if e.identification_scheme == scheme:
                return e.value
        return None

    def set_external_id(self, scheme: str, value: str) -> None:
        for e in self.external_identifiers:
            if e.identification_scheme == scheme:
                e.value = value
                return
        raise KeyError(scheme)


@dataclass
class ExtrinsicObject(RegistryObject):
    """An XDS DocumentEntry."""

    TAG: ClassVar[str] = "ExtrinsicObject"

    mime_type: str | None = None
    is_opaque: str | None = None

    @classmethod
    def from_element(cls, el: etree._Element) -> ExtrinsicObject:
        obj = cls(id=el.get("id") or "", mime_type=el.get("mimeType"), is_opaque=el.get("isOpaque"))
        obj._read_common(el)
        return obj

    def to_element(self) -> etree._Element:
        el = etree.Element(q(RIM, "ExtrinsicObject"), id=self.id)
        if self.mime_type:
            el.set("mimeType", self.mime_type)
        if self.is_opaque:
            el.set("isOpaque", self.is_opaque)
        self._write_common(el)
        return el

    @property
    def unique_id(self) -> str | None:
        return self.external_id(Scheme.DE_UNIQUE_ID)

    @property
    def patient_id(self) -> str | None:
        return self.external_id(Scheme.DE_PATIENT_ID)


@dataclass
class RegistryPackage(RegistryObject):
    """An XDS SubmissionSet or Folder, told apart by its classification node."""

    TAG: ClassVar[str] = "RegistryPackage"

    @classmethod
    def from_element(cls, el: etree._Element) -> RegistryPackage:
        obj = cls(id=el.get("id") or "")
        obj._read_common(el)
        return obj

    def to_element(self) -> etree._Element:
        el = etree.Element(q(RIM, "RegistryPackage"), id=self.id)
        self._write_common(el)
        return el

    def has_node(self, node: str) -> bool:
        return any(c.classification_node == node for c in self.classifications)

    @property
    def is_submission_set(self) -> bool:
        return self.has_node(Node.SUBMISSION_SET)

    @property
    def is_folder(self) -> bool:
        return self.has_node(Node.FOLDER)


@dataclass
class Association(RegistryObject):
    TAG: ClassVar[str] = "Association"

    association_type: str = ""
    source_object: str = ""
    target_object: str = ""

    @classmethod
    def from_element(cls, el: etree._Element) -> Association:
        obj = cls(
            id=el.get("id") or "",
            association_type=el.get("associationType") or "",
            source_object=el.get("sourceObject") or "",
            target_object=el.get("targetObject") or "",
        )
        obj._read_common(el)
        return obj

    def to_element(self) -> etree._Element:
        el = etree.Element(q(RIM, "Association"), id=self.id)
        self._write_common(el)
        el.set("associationType", self.association_type)
        el.set("sourceObject", self.source_object)
        el.set("targetObject", self.target_object)
        return el


@dataclass
class ObjectRef:
    TAG: ClassVar[str] = "ObjectRef"

    id: str
    home: str | None = None

    @classmethod
    def from_element(cls, el: etree._Element) -> ObjectRef:
        return cls(id=el.get("id") or "", home=el.get("home"))

    def to_element(self) -> etree._Element:
        el = etree.Element(q(RIM, "ObjectRef"), id=self.id)
        if self.home:
            el.set("home", self.home)
        return el


Identifiable = ExtrinsicObject | RegistryPackage | Association | Classification | ObjectRef

_READERS: dict[str, type] = {
    q(RIM, "ExtrinsicObject"): ExtrinsicObject,
    q(RIM, "RegistryPackage"): RegistryPackage,
    q(RIM, "Association"): Association,
    q(RIM, "Classification"): Classification,
    q(RIM, "ObjectRef"): ObjectRef,
}


def read_object_list(el: etree._Element | None) -> list[Identifiable]:
    """Parse the children of a ``rim:RegistryObjectList``."""
    if el is None:
        return []
    out: list[Identifiable] = []
    for child in el:
        if not isinstance(child.tag, str):
            continue  # comments, processing instructions
        reader = _READERS.get(child.tag)
        if reader is None:
            raise RemoteProtocolError(
                f"unexpected element {etree.QName(child).localname} in RegistryObjectList",
                "XDSRegistryMetadataError",
            )
        out.append(reader.from_element(child))
    return out


def write_object_list(objects: list[Identifiable]) -> etree._Element:
    el = etree.Element(q(RIM, "RegistryObjectList"), nsmap={"rim": RIM})
    for obj in objects:
        el.append(obj.to_element())
    return el


__all__ = [
    "Association",
    "Classification",
    "ExternalIdentifier",
    "ExtrinsicObject",
    "Identifiable",
    "ObjectRef",
    "ObjectType",
    "RegistryObject",
    "RegistryPackage",
    "Slot",
    "Status",
    "read_object_list",
    "write_object_list",
]
