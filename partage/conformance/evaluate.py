"""Judge one response against a test step's expectations: status, error codes, schema
validity, ``ExpectedContents``, XPath ``Assertions`` and retrieved bytes.

Every check returns the list of reasons it failed (empty: passed), so a table row can say
exactly what was expected and what came back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from ihe.ebrim.messages import document_bytes
from ihe.ebrim.enum import AssociationType, Node, ResponseStatus, Scheme, Severity, Status
from ihe.namespaces import QUERY, RIM, RS, SOAP12, XDSB, q
from partage import xsd
from partage.conformance.testplan import ContentCheck, UseId

SHORT_STATUS = {
    ResponseStatus.SUCCESS: "Success",
    ResponseStatus.FAILURE: "Failure",
    ResponseStatus.PARTIAL_SUCCESS: "PartialSuccess",
}


@dataclass
class RegistryErrorView:
    code: str
    context: str
    severity: str


@dataclass
class Outcome:
    """What a response says, in the terms a testplan uses."""

    status: str
    errors: list[RegistryErrorView] = field(default_factory=list)

    def summary(self) -> str:
        codes = ",".join(e.code for e in self.errors)
        return f"{self.status}" + (f" [{codes}]" if codes else "")


def outcome(body: etree._Element | None) -> Outcome:
    if body is None:
        return Outcome("NoResponse")
    if body.tag == q(SOAP12, "Fault"):
        reason = body.findtext(f"{q(SOAP12, 'Reason')}/{q(SOAP12, 'Text')}") or ""
        return Outcome(f"SOAPFault({reason.strip()[:120]})")
    status_holder = body.find(q(RS, "RegistryResponse"))  # ITI-43 wraps its status
    raw = (status_holder if status_holder is not None else body).get("status", "")
    errors = [
        RegistryErrorView(e.get("errorCode", ""), e.get("codeContext", ""), e.get("severity", ""))
        for e in body.iter(q(RS, "RegistryError"))
    ]
    return Outcome(SHORT_STATUS.get(raw, raw or "NoStatus"), errors)  # type: ignore[call-overload]


def check_status(expected: str | None, got: Outcome) -> list[str]:
    if expected is None or expected == got.status:
        return []
    return [f"status {got.status}, expected {expected}"]


def check_errors(got: Outcome, messages: tuple[str, ...], codes: tuple[str, ...]) -> list[str]:
    """``ExpectedErrorMessage`` matches an errorCode or a codeContext substring (as NIST does);
    ``ExpectedErrorCode`` (and the pins) must be an errorCode."""
    reasons = []
    present = {e.code for e in got.errors}
    for message in messages:
        if message not in present and not any(message in e.context for e in got.errors):
            reasons.append(f"error {message} expected, got {sorted(present) or 'none'}")
    for code in codes:
        if code not in present:
            reasons.append(f"errorCode {code} expected, got {sorted(present) or 'none'}")
    return reasons


def check_no_errors(got: Outcome) -> list[str]:
    """A Success with Error-severity entries is self-contradictory."""
    severe = [e.code for e in got.errors if e.severity == Severity.ERROR]
    return [f"Success with errors {severe}"] if got.status == "Success" and severe else []


def check_schema(body: etree._Element | None) -> list[str]:
    """A schema-invalid response is a failure, whatever its status says."""
    if body is None or body.tag == q(SOAP12, "Fault"):
        return []
    problems = xsd.errors(body)
    return [f"response is not schema-valid: {problems[0]}"] if problems else []


# -- ExpectedContents ---------------------------------------------------------------------


@dataclass
class QueryContents:
    """The objects of an AdhocQueryResponse, classified as XDS objects."""

    documents: list[etree._Element]
    submission_sets: list[etree._Element]
    folders: list[etree._Element]
    associations: list[etree._Element]
    object_refs: list[etree._Element]
    all: list[etree._Element]

    @classmethod
    def of(cls, body: etree._Element) -> QueryContents:
        object_list = body.find(q(RIM, "RegistryObjectList"))
        objects = [c for c in object_list if isinstance(c.tag, str)] if object_list is not None else []
        nodes = {
            c.get("classifiedObject"): c.get("classificationNode")
            for c in (object_list.iter(q(RIM, "Classification")) if object_list is not None else [])
        }
        schemes = {
            (ei.get("registryObject") or ""): ei.get("identificationScheme")
            for ei in (object_list.iter(q(RIM, "ExternalIdentifier")) if object_list is not None else [])
        }

        def kind(package: etree._Element) -> str:
            pid = package.get("id")
            node = nodes.get(pid)
            if node == Node.SUBMISSION_SET or schemes.get(pid or "") == Scheme.SS_UNIQUE_ID:
                return "SS"
            if node == Node.FOLDER or schemes.get(pid or "") == Scheme.FOL_UNIQUE_ID:
                return "Folder"
            return "?"

        packages = [o for o in objects if o.tag == q(RIM, "RegistryPackage")]
        return cls(
            documents=[o for o in objects if o.tag == q(RIM, "ExtrinsicObject")],
            submission_sets=[p for p in packages if kind(p) == "SS"],
            folders=[p for p in packages if kind(p) == "Folder"],
            associations=[o for o in objects if o.tag == q(RIM, "Association")],
            object_refs=[o for o in objects if o.tag == q(RIM, "ObjectRef")],
            all=objects,
        )

    def has_member(self, source: etree._Element, target: etree._Element) -> bool:
        return any(
            a.get("associationType") == AssociationType.HAS_MEMBER
            and a.get("sourceObject") == source.get("id") and a.get("targetObject") == target.get("id")
            for a in self.associations
        )


def _shape(contents: QueryContents, docs: int, folders: int, docs_in_folder: int | None = None) -> list[str]:
    reasons = []
    if len(contents.submission_sets) != 1:
        return [f"{len(contents.submission_sets)} SubmissionSets, expected 1"]
    ss = contents.submission_sets[0]
    if len(contents.documents) != docs:
        reasons.append(f"{len(contents.documents)} DocumentEntries, expected {docs}")
    if len(contents.folders) != folders:
        reasons.append(f"{len(contents.folders)} Folders, expected {folders}")
    for member in contents.documents + contents.folders:
        if not contents.has_member(ss, member):
            reasons.append(f"no SubmissionSet HasMember association to {member.get('id')}")
    if docs_in_folder is not None and contents.folders:
        inside = sum(contents.has_member(contents.folders[0], d) for d in contents.documents)
        if inside != docs_in_folder:
            reasons.append(f"{inside} DocumentEntries in the Folder, expected {docs_in_folder}")
    return reasons


SHAPES: dict[str, Callable[[QueryContents], list[str]]] = {
    "SSwithOneDoc": lambda c: _shape(c, 1, 0),
    "SSwithTwoDoc": lambda c: _shape(c, 2, 0),
    "SSwithOneFol": lambda c: _shape(c, 0, 1),
    "SSwithOneDocOneFol": lambda c: _shape(c, 1, 1),
    "SSwithTwoDocOneFol": lambda c: _shape(c, 2, 1),
    "SSwithTwoDocOneFolOneDocInFol": lambda c: _shape(c, 2, 1, docs_in_folder=1),
}


def _statuses(objects: list[etree._Element], status: str, label: str, exactly_one: bool) -> list[str]:
    matching = [o for o in objects if o.get("status") == status]
    if exactly_one:
        return [] if len(matching) == 1 else [f"{len(matching)} {label}, expected exactly 1"]
    if objects and len(matching) == len(objects):
        return []
    return [f"{len(objects) - len(matching)} of {len(objects)} objects not {label}"]


def check_contents(checks: tuple[ContentCheck, ...], body: etree._Element | None,
                   resolve: Callable[[UseId], str | None]) -> list[str]:
    """``ExpectedContents`` of a stored query (Documents/ObjectRefs/… counts and shapes)."""
    if not checks:
        return []
    if body is None or body.tag != q(QUERY, "AdhocQueryResponse"):
        return ["ExpectedContents needs an AdhocQueryResponse"]
    contents = QueryContents.of(body)
    counts = {
        "Documents": contents.documents, "DocumentEntries": contents.documents,
        "SubmissionSets": contents.submission_sets, "Folders": contents.folders,
        "Associations": contents.associations, "ObjectRefs": contents.object_refs,
    }
    reasons: list[str] = []
    for check in checks:
        if check.name in counts and check.count is not None:
            n = len(counts[check.name])
            if n != check.count:
                reasons.append(f"{n} {check.name}, expected {check.count}")
        elif check.name == "None":
            if contents.all:
                reasons.append(f"{len(contents.all)} objects, expected none")
        elif check.name in SHAPES:
            reasons += SHAPES[check.name](contents)
        elif check.name in ("DocApp", "DocDep", "OneDocApp", "OneDocDep"):
            status = Status.APPROVED if check.name.endswith("App") else Status.DEPRECATED
            label = "Approved" if status == Status.APPROVED else "Deprecated"
            reasons += _statuses(contents.documents, status, f"{label} DocumentEntries",
                                 check.name.startswith("One"))
        elif check.name == "SSApproved":
            reasons += _statuses(contents.submission_sets, Status.APPROVED, "Approved SubmissionSets", False)
        elif check.name == "HasXFRM_RPLC":
            if not any(a.get("associationType") == AssociationType.XFRM_RPLC for a in contents.associations):
                reasons.append("no XFRM_RPLC association")
        elif check.name == "MustOnlyInclude":
            reasons += _only(contents, check, resolve)
        else:
            reasons.append(f"unknown ExpectedContents element {check.name}")
    return reasons


def _only(contents: QueryContents, check: ContentCheck, resolve: Callable[[UseId], str | None]) -> list[str]:
    wanted: dict[str, str] = {}
    for use_id, object_type in check.only:
        value = resolve(use_id)
        if value is None:
            return [f"MustOnlyInclude: {use_id.id} of step {use_id.step} unknown"]
        wanted[value] = object_type
    got = {d.get("id", ""): d.get("objectType", "") for d in contents.documents}
    reasons = []
    if set(got) != set(wanted):
        reasons.append(f"DocumentEntries {sorted(got)}, expected only {sorted(wanted)}")
    for uuid, object_type in wanted.items():
        if uuid in got and object_type and got[uuid] != object_type:
            reasons.append(f"{uuid} has objectType {got[uuid]}, expected {object_type}")
    return reasons


# -- Assertions ---------------------------------------------------------------------------


def check_assertion(log: etree._Element, assertion_id: str, xpath: str) -> list[str]:
    """An XPath 1.0 ``<Assert>`` over the section log (NIST ``DataRef file="THIS"``)."""
    try:
        value = log.xpath(xpath)
    except etree.XPathError as exc:
        return [f"assertion {assertion_id}: bad XPath ({exc})"]
    holds = bool(value) if not isinstance(value, float) else value != 0.0
    return [] if holds else [f"assertion {assertion_id} is false"]


# -- Retrieve -----------------------------------------------------------------------------


def check_retrieved(documents: dict[str, tuple[bytes, str]],
                    expected: dict[str, tuple[bytes, str | None]]) -> list[str]:
    """Each expected uniqueId came back with the submitted bytes (and mimeType, if known)."""
    reasons = []
    for uid, (data, mime) in expected.items():
        if uid not in documents:
            reasons.append(f"document {uid} not returned")
            continue
        got, got_mime = documents[uid]
        if got != data:
            reasons.append(f"document {uid}: {len(got)} bytes differ from the {len(data)} submitted")
        if mime and got_mime != mime:
            reasons.append(f"document {uid}: mimeType {got_mime}, expected {mime}")
    return reasons


def retrieved_documents(body: etree._Element, attachments: dict[str, bytes]) -> dict[str, tuple[bytes, str]]:
    out = {}
    for response in body.iter(q(XDSB, "DocumentResponse")):
        uid = (response.findtext(q(XDSB, "DocumentUniqueId")) or "").strip()
        document = response.find(q(XDSB, "Document"))
        data = document_bytes(document, attachments) if document is not None else b""
        out[uid] = (data, (response.findtext(q(XDSB, "mimeType")) or "").strip())
    return out
