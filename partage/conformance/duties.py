"""The NIST engine's "harness duties" (``nist-testkit/TESTS.md``): what it does to a metadata
file before sending it, and the per-run store of ids and reports later steps refer to.

Order, as NIST applies it: ``$symbol$`` text substitution, then on the parsed
SubmitObjectsRequest the patient id, fresh uniqueIds, a sourceId and, with ``<AssignUuids/>``,
``urn:uuid:`` ids for symbolic ones.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from lxml import etree

from ihe.ebrim.enum import Scheme
from ihe.namespaces import RIM, q

#: patientId ExternalIdentifier schemes of DocumentEntry, SubmissionSet, Folder
PATIENT_SCHEMES = frozenset({Scheme.DE_PATIENT_ID, Scheme.SS_PATIENT_ID, Scheme.FOL_PATIENT_ID})
#: uniqueId ExternalIdentifier schemes of DocumentEntry, SubmissionSet, Folder
UNIQUE_ID_SCHEMES = frozenset({Scheme.DE_UNIQUE_ID, Scheme.SS_UNIQUE_ID, Scheme.FOL_UNIQUE_ID})
#: attributes that hold a reference to another object's id
REFERENCE_ATTRIBUTES = ("id", "classifiedObject", "sourceObject", "targetObject", "registryObject")
#: the harness's own submission source (``XDSSubmissionSet.sourceId``) when the file has none
SOURCE_ID = "1.3.6.1.4.1.21367.13.80.999"
SYMBOL = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*\$")
EBRIM_21 = ("urn:oasis:names:tc:ebxml-regrep:rim:xsd:2.1", "urn:oasis:names:tc:ebxml-regrep:registry:xsd:2.1")


@dataclass
class Ids:
    """Fresh identifiers: ``2.25.<uuid>`` OIDs (ITU-T X.667, unique without a registered root)
    and ``urn:uuid:``s. The uuid source is injectable for reproducible tests."""

    new_uuid: Callable[[], uuid.UUID] = uuid.uuid4

    def uid(self) -> str:
        return f"2.25.{self.new_uuid().int}"

    def urn(self) -> str:
        return f"urn:uuid:{self.new_uuid()}"


@dataclass
class Patients:
    """Patient ids of one run. ``default`` and ``second`` are fed before the tests (NIST 15817
    and 15817b); ``alternate`` (``<AltPatientId/>``, NIST 11996 expects XDSUnknownPatientId
    with it) is never fed."""

    domain: str
    prefix: str
    counter: int = 0

    def fresh(self) -> str:
        self.counter += 1
        return f"{self.prefix}{self.counter}^^^&{self.domain}&ISO"

    @classmethod
    def for_run(cls, domain: str, ids: Ids) -> Patients:
        return cls(domain=domain, prefix=f"PTG{ids.new_uuid().hex[:10].upper()}-")


StepKey = tuple[str, str, str]  # (test, section, step)


@dataclass
class StepRecord:
    """What one executed step leaves behind for later steps (NIST's log of the step)."""

    assigned_uids: dict[str, str] = field(default_factory=dict)
    assigned_uuids: dict[str, str] = field(default_factory=dict)
    assigned_patient_ids: dict[str, str] = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)
    input: etree._Element | None = None
    result: etree._Element | None = None
    #: document uniqueId → bytes and mimeType actually submitted (ITI-41)
    documents: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def assigned(self, section: str) -> dict[str, str]:
        return {
            "AssignedUids": self.assigned_uids,
            "AssignedUuids": self.assigned_uuids,
            "AssignedPatientId": self.assigned_patient_ids,
        }.get(section, {})


@dataclass
class RunStore:
    """Per-run records keyed by (test, section, step)."""

    records: dict[StepKey, StepRecord] = field(default_factory=dict)

    def get(self, key: StepKey) -> StepRecord | None:
        return self.records.get(key)

    def put(self, key: StepKey, record: StepRecord) -> None:
        self.records[key] = record

    def submitted_document(self, uid: str) -> tuple[bytes, str] | None:
        for record in self.records.values():
            if uid in record.documents:
                return record.documents[uid]
        return None


def section_key(tests_dir: Path, section_dir: Path, testdir: str | None) -> tuple[str, str]:
    """(test, section) named by a ``testdir`` attribute, relative to the section directory
    (NIST also accepts it relative to the test directory: 12021 ``testdir="submit"``)."""
    if not testdir:
        target = section_dir
    else:
        target = (section_dir / testdir).resolve()
        if not target.is_dir():
            target = (section_dir.parent / testdir).resolve()
    relative = target.relative_to(tests_dir.resolve())
    parts = relative.parts
    return parts[0], (parts[1] if len(parts) > 1 else "")


def substitute(text: str, values: dict[str, str], *, in_xml: bool = False) -> str:
    """Replace every symbol (``$ssuid$``, or NIST's bare ``updateTime`` names) by its value,
    XML-escaped when ``text`` is an XML document (CX patient ids carry ``&``)."""
    for symbol in sorted(values, key=len, reverse=True):
        value = escape(values[symbol], {'"': "&quot;"}) if in_xml else values[symbol]
        text = text.replace(symbol, value)
    return text


def unresolved(text: str, symbols: set[str]) -> list[str]:
    return sorted(s for s in symbols if s in text)


def is_ebrim21(root: etree._Element) -> bool:
    return any(el.tag.startswith(f"{{{ns}}}") for ns in EBRIM_21 for el in root.iter()
               if isinstance(el.tag, str))


def _identifiers(root: etree._Element, schemes: frozenset[str]) -> list[etree._Element]:
    return [e for e in root.iter(q(RIM, "ExternalIdentifier"))
            if e.get("identificationScheme") in schemes]


def _owner(ei: etree._Element) -> str:
    parent = ei.getparent()
    return ei.get("registryObject") or (parent.get("id", "") if parent is not None else "")


def assign_patient(root: etree._Element, patient: str) -> None:
    """Duty 1: the patient id on every SS, DE and Folder patientId ExternalIdentifier."""
    for ei in _identifiers(root, PATIENT_SCHEMES):
        ei.set("value", patient)


def patient_ids(root: etree._Element) -> dict[str, str]:
    """Object id → patient id, for ``AssignedPatientId`` look-ups."""
    return {_owner(ei): ei.get("value", "") for ei in _identifiers(root, PATIENT_SCHEMES)}


def assign_unique_ids(root: etree._Element, ids: Ids, *, keep_all: bool = False,
                      keep: tuple[str, ...] = ()) -> dict[str, str]:
    """Duty 2: fresh uniqueIds except for ``<NoAssignUids/>`` objects. Returns object id →
    uniqueId for every DE, SS and Folder (assigned or kept)."""
    out: dict[str, str] = {}
    for ei in _identifiers(root, UNIQUE_ID_SCHEMES):
        owner = _owner(ei)
        if not keep_all and owner not in keep:
            ei.set("value", ids.uid())
        out[owner] = ei.get("value", "")
    return out


def ensure_source_id(root: etree._Element, source_id: str = SOURCE_ID) -> None:
    """Duty 3: every SubmissionSet carries a sourceId (an existing one is kept: NIST 11898
    queries by the files' own sourceIds)."""
    ss_ids = {_owner(ei) for ei in _identifiers(root, frozenset({Scheme.SS_UNIQUE_ID}))}
    for package in root.iter(q(RIM, "RegistryPackage")):
        if package.get("id") not in ss_ids:
            continue
        if any(e.get("identificationScheme") == Scheme.SS_SOURCE_ID
               for e in package.iter(q(RIM, "ExternalIdentifier"))):
            continue
        ei = etree.SubElement(package, q(RIM, "ExternalIdentifier"))
        ei.set("id", f"{package.get('id')}_sourceId")
        ei.set("registryObject", package.get("id", ""))
        ei.set("identificationScheme", Scheme.SS_SOURCE_ID)
        ei.set("value", source_id)
        name = etree.SubElement(ei, q(RIM, "Name"))
        etree.SubElement(name, q(RIM, "LocalizedString")).set("value", "XDSSubmissionSet.sourceId")


def source_id(root: etree._Element) -> str:
    """The submission's XDSSubmissionSet.sourceId (the site its source speaks for), or
    ``""``: whom the submission's bearer token must name (``partage.sources``)."""
    for ei in root.iter(q(RIM, "ExternalIdentifier")):
        if ei.get("identificationScheme") == Scheme.SS_SOURCE_ID:
            return ei.get("value", "")
    return ""


def assign_uuids(root: etree._Element, ids: Ids) -> dict[str, str]:
    """Duty 4 (``<AssignUuids/>``): every symbolic id becomes a ``urn:uuid:``, and every
    reference to it follows. Returns symbolic id → uuid."""
    mapping: dict[str, str] = {}
    for el in root.iter():
        symbolic = el.get("id", "") if isinstance(el.tag, str) else ""
        if not symbolic or symbolic.startswith("urn:uuid:"):
            continue
        if symbolic in mapping:  # a file reusing an id (ReposAcceptanceTest-1113): one each
            el.set("id", ids.urn())
            continue
        mapping[symbolic] = ids.urn()
        el.set("id", mapping[symbolic])
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for attribute in REFERENCE_ATTRIBUTES[1:]:
            value = el.get(attribute)
            if value in mapping:
                el.set(attribute, mapping[value])
    return mapping


def object_ids(root: etree._Element) -> dict[str, str]:
    """Object id → itself for DE, SS and Folder (AssignedUuids of a step without
    ``<AssignUuids/>``: the ids it sent)."""
    return {_owner(ei): _owner(ei) for ei in _identifiers(root, UNIQUE_ID_SCHEMES)}


def report_value(root: etree._Element, xpath: str) -> str:
    """A NIST ``<Report>``: the string value of the first node (or the scalar) ``xpath``
    selects; empty when nothing matches."""
    result = root.xpath(xpath.strip())
    if isinstance(result, list):
        if not result:
            return ""
        first = result[0]
        return str(first) if not isinstance(first, etree._Element) else "".join(first.itertext()).strip()
    if isinstance(result, float) and result.is_integer():
        return str(int(result))
    return str(result)
