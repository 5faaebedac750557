"""NIST XDS Toolkit test plans (``index.idx`` + ``<section>/testplan.xml``) as dataclasses.

Only what the harness interprets is kept; the element names are NIST's (see
``nist-testkit/TESTS.md``). Parsing is pure: file contents are read, nothing is sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

#: testplan transaction element → the IHE transaction it stands for
TRANSACTIONS = {
    "RegisterTransaction": "ITI-42",
    "ProvideAndRegisterTransaction": "ITI-41",
    "StoredQueryTransaction": "ITI-18",
    "MPQTransaction": "ITI-18",
    "RetrieveTransaction": "ITI-43",
    "HttpTransaction": "HTTP",
    "PatientIdentityFeedTransaction": "PIF",
    "NullTransaction": "none",
}


@dataclass(frozen=True)
class UseId:
    """Take an id assigned in an earlier step (``section`` is AssignedUids, AssignedUuids or
    AssignedPatientId) and substitute it for ``symbol``."""

    id: str
    symbol: str
    step: str
    section: str
    testdir: str | None = None


@dataclass(frozen=True)
class UseReport:
    """Substitute ``use_as`` with the report ``report_name`` of an earlier step."""

    report_name: str
    use_as: str
    step: str
    section: str
    test: str | None = None


@dataclass(frozen=True)
class Report:
    """Publish the string value of ``xpath`` over the sent metadata (``InputMetadata``) or the
    response (``Result``) under ``name``."""

    name: str
    section: str
    xpath: str


@dataclass(frozen=True)
class Assertion:
    id: str
    xpath: str


@dataclass(frozen=True)
class ContentCheck:
    """One child of ``ExpectedContents``: a count (``Documents count="2"``), a shape
    (``SSwithOneDoc``, ``None``, ``DocApp`` …) or ``DocumentEntries/MustOnlyInclude``."""

    name: str
    count: int | None = None
    only: tuple[tuple[UseId, str], ...] = ()  # MustOnlyInclude: (DocumentEntry id, objectType)


@dataclass(frozen=True)
class ReferenceDocument:
    uid: str
    path: str


@dataclass(frozen=True)
class ReferenceMetadata:
    step: str
    testdir: str | None = None


@dataclass
class Transaction:
    kind: str
    metadata_file: str | None = None
    documents: dict[str, str] = field(default_factory=dict)
    no_patient_id: bool = False
    alt_patient_id: bool = False
    assign_uuids: bool = False
    keep_all_uids: bool = False
    keep_uids: tuple[str, ...] = ()
    use_ids: tuple[UseId, ...] = ()
    use_reports: tuple[UseReport, ...] = ()
    reports: tuple[Report, ...] = ()
    contents: tuple[ContentCheck, ...] | None = None
    assertions: tuple[Assertion, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    body_file: str | None = None
    http_type: str | None = None
    wait_before_ms: int = 0
    create_new_patient_id: bool = False
    reference_documents: tuple[ReferenceDocument, ...] = ()
    reference_metadata: ReferenceMetadata | None = None

    @property
    def iti(self) -> str:
        return TRANSACTIONS[self.kind]


@dataclass
class Step:
    id: str
    expected_status: str | None
    expected_error_messages: tuple[str, ...] = ()
    expected_error_codes: tuple[str, ...] = ()
    transaction: Transaction | None = None
    new_patient_id: bool = False
    alt_patient_id: bool = False


@dataclass
class Section:
    test: str
    name: str
    directory: Path
    steps: list[Step]


@dataclass
class Test:
    id: str
    directory: Path
    sections: list[Section]


def _text(el: etree._Element | None) -> str:
    return "" if el is None else "".join(el.itertext()).strip()


def _use_id(el: etree._Element) -> UseId:
    return UseId(
        id=el.get("id", ""), symbol=el.get("symbol", ""), step=el.get("step", ""),
        section=el.get("section", ""), testdir=el.get("testdir"),
    )


def _contents(el: etree._Element) -> tuple[ContentCheck, ...]:
    checks: list[ContentCheck] = []
    for child in el:
        if not isinstance(child.tag, str):
            continue
        if child.tag == "DocumentEntries":
            only = tuple(
                (_use_id(de.find("UseId")), _text(de.find("DocumentEntryType")))
                for de in child.iterfind("MustOnlyInclude/DocumentEntry")
                if de.find("UseId") is not None
            )
            checks.append(ContentCheck("MustOnlyInclude", only=only))
            continue
        count = child.get("count")
        checks.append(ContentCheck(child.tag, int(count) if count is not None else None))
    return tuple(checks)


def _transaction(el: etree._Element) -> Transaction:
    keep = el.findall("NoAssignUids")
    contents = el.find("ExpectedContents")
    reference = el.find("ReferenceMetadata")
    wait = _text(el.find("WaitBefore"))
    headers: dict[str, str] = {}
    for line in _text(el.find("Headers")).splitlines():
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip()] = value.strip()
    return Transaction(
        kind=str(el.tag),
        metadata_file=_text(el.find("MetadataFile")) or None,
        documents={d.get("id", ""): _text(d) for d in el.iterfind("Document")},
        no_patient_id=el.find("NoPatientId") is not None,
        alt_patient_id=el.find("AltPatientId") is not None,
        assign_uuids=el.find("AssignUuids") is not None,
        keep_all_uids=any(k.get("id") is None for k in keep),
        keep_uids=tuple(k.get("id", "") for k in keep if k.get("id") is not None),
        use_ids=tuple(_use_id(u) for u in el.iterfind("UseId")),
        use_reports=tuple(
            UseReport(
                report_name=u.get("reportName", ""), use_as=u.get("useAs", ""),
                step=u.get("step", ""), section=u.get("section", ""), test=u.get("test"),
            )
            for u in el.iterfind("UseReport")
        ),
        reports=tuple(
            Report(r.get("name", ""), r.get("section", ""), _text(r)) for r in el.iterfind("Report")
        ),
        contents=_contents(contents) if contents is not None else None,
        assertions=tuple(
            Assertion(a.get("id", ""), _text(a)) for a in el.iterfind("Assertions/Assert")
        ),
        headers=headers,
        body_file=_text(el.find("BodyFile")) or None,
        http_type=el.get("type"),
        wait_before_ms=int(wait) if wait else 0,
        create_new_patient_id=el.find("CreateNewPatientId") is not None,
        reference_documents=tuple(
            ReferenceDocument(r.get("uid", ""), _text(r)) for r in el.iterfind("ReferenceDocument")
        ),
        reference_metadata=(
            ReferenceMetadata(reference.get("step", ""), reference.get("testdir"))
            if reference is not None else None
        ),
    )


def parse_step(el: etree._Element) -> Step:
    transaction = next(
        (_transaction(c) for c in el if isinstance(c.tag, str) and c.tag in TRANSACTIONS), None
    )
    return Step(
        id=el.get("id", ""),
        expected_status=_text(el.find("ExpectedStatus")) or None,
        expected_error_messages=tuple(_text(e) for e in el.iterfind("ExpectedErrorMessage")),
        expected_error_codes=tuple(_text(e) for e in el.iterfind("ExpectedErrorCode")),
        transaction=transaction,
        new_patient_id=el.find("NewPatientId") is not None,
        alt_patient_id=el.find("AltPatientId") is not None
        or (transaction is not None and transaction.alt_patient_id),
    )


def parse_section(test: str, name: str, directory: Path) -> Section:
    root = etree.parse(str(directory / "testplan.xml")).getroot()
    return Section(test, name, directory, [parse_step(s) for s in root.iterfind("TestStep")])


def section_names(test_dir: Path) -> list[str]:
    """Sections in run order; a test without ``index.idx`` sections is its own one section."""
    index = test_dir / "index.idx"
    names = index.read_text(encoding="utf-8").split() if index.exists() else []
    return names or [""]


def load_test(tests_dir: Path, test_id: str, extra_sections: tuple[str, ...] = ()) -> Test:
    """A test's sections in ``index.idx`` order, then ``extra_sections`` (see suites.py)."""
    directory = tests_dir / test_id
    if not directory.is_dir():
        raise FileNotFoundError(f"no NIST test {test_id} under {tests_dir}")
    names = section_names(directory)
    sections = [
        parse_section(test_id, name, directory / name if name else directory)
        for name in names + [n for n in extra_sections if n not in names]
    ]
    return Test(test_id, directory, sections)
