"""Run NIST test plans step by step against live endpoints and judge every answer.

One ``Harness`` per run: it owns the run's patients, fresh ids and the report store; each
step is prepared (harness duties), sent (``transport``), judged (``evaluate``) and recorded
in NIST's section-log shape (``TestStep/<Transaction>/InputMetadata|Result``) so that later
steps' ``UseId``/``UseReport`` and XPath ``Assertions`` see what NIST would see.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from lxml import etree

from ihe import mtom, xml
from ihe.errors import RemoteProtocolError
from ihe.namespaces import LCM, RIM, q
from ihe.soap import Action, Envelope
from partage.conformance import duties, evaluate, transport
from partage.conformance.feed import Feed
from partage.conformance.pins import pinned_codes
from partage.conformance.suites import EXTRA_SECTIONS, PIF_TESTS
from partage.conformance.testplan import Section, Step, Test, Transaction, UseId, load_test


@dataclass
class Row:
    """One line of the pass table."""

    test: str
    section: str
    step: str
    expected: str
    got: str
    reasons: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.reasons


class StepError(Exception):
    """The step could not be prepared (missing report, unreadable file …): it fails."""


@dataclass
class Material:
    root: Path

    @property
    def tests(self) -> Path:
        return self.root / "nist-testkit" / "tests"

    def metadata(self, section_dir: Path, name: str) -> Path:
        """The ebRIM 3.0 translation when there is one, else the original file."""
        original = section_dir / name
        relative = original.resolve().relative_to(self.tests.resolve())
        translated = self.root / "nist-testkit-v3" / "tests" / relative
        return translated if translated.exists() else original


@dataclass
class Harness:
    material: Material
    endpoints: transport.Endpoints
    client: httpx.Client
    feed: Feed
    ids: duties.Ids = field(default_factory=duties.Ids)
    store: duties.RunStore = field(default_factory=duties.RunStore)
    patients: duties.Patients | None = None
    #: the current patient of the running test (NIST's "test patient id")
    patient: str = ""
    #: patients fed for the pif tests (15817 → default, 15817b → second)
    named: dict[str, str] = field(default_factory=dict)
    alternate: str = ""
    dry_run: bool = False
    fed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.patients is None:
            self.patients = duties.Patients.for_run("1.3.6.1.4.1.21367.2005.13.20.1000", self.ids)
        self.named = {"default": self.patients.fresh(), "second": self.patients.fresh()}
        self.alternate = self.patients.fresh()  # never fed: NIST 11996 AltPatientId
        self.patient = self.named["default"]

    # -- running ------------------------------------------------------------------------

    def run_test(self, test_id: str, patient: str | None = None) -> list[Row]:
        test = load_test(self.material.tests, test_id, EXTRA_SECTIONS.get(test_id, ()))
        self.patient = patient or self.named["default"]
        rows: list[Row] = []
        for section in test.sections:
            log = etree.Element("TestResults", test=test.id, section=section.name)
            for step in section.steps:
                rows.append(self.run_step(test, section, step, log))
        return rows

    def run_step(self, test: Test, section: Section, step: Step, log: etree._Element) -> Row:
        expected = step.expected_status or "-"
        codes = self._expected_codes(test, section, step)
        if codes or step.expected_error_messages:
            expected += " [" + ",".join(dict.fromkeys(step.expected_error_messages + codes)) + "]"
        row = Row(test.id, section.name, step.id, expected, "")
        record = duties.StepRecord()
        try:
            self._perform(test, section, step, log, record, row, codes)
        except StepError as exc:
            row.reasons.append(str(exc))
            row.got = row.got or "not sent"
        self.store.put((test.id, section.name, step.id), record)
        return row

    def _expected_codes(self, test: Test, section: Section, step: Step) -> tuple[str, ...]:
        pins = pinned_codes(test.id, section.name, step.id) if step.expected_status == "Failure" else []
        codes = step.expected_error_codes + tuple(p.code for p in pins)
        return tuple(c for c in dict.fromkeys(codes) if c not in step.expected_error_messages)

    def _perform(self, test: Test, section: Section, step: Step, log: etree._Element,
                 record: duties.StepRecord, row: Row, codes: tuple[str, ...]) -> None:
        if step.new_patient_id:
            self.patient = self._feed(self.patients.fresh(), row)  # type: ignore[union-attr]
        tx = step.transaction
        if tx is None:
            row.got = row.got or "ok"
            return
        if tx.wait_before_ms and not self.dry_run:
            time.sleep(tx.wait_before_ms / 1000)
        values = self._values(test, section, tx)
        if tx.kind == "PatientIdentityFeedTransaction":
            self._pif(test, tx, record, row)
            return
        if tx.kind == "NullTransaction":
            row.got = "assertions"
            self._assert(tx, values, log, row)
            return
        exchange, input_root = self._send(test, section, step, tx, values, record)
        got = evaluate.outcome(exchange.body)
        row.got = got.summary() if not exchange.error else exchange.error[:160]
        if exchange.error and exchange.body is None:
            row.reasons.append(exchange.error)
        row.reasons += evaluate.check_status(step.expected_status, got)
        row.reasons += evaluate.check_errors(got, step.expected_error_messages, codes)
        row.reasons += evaluate.check_no_errors(got)
        row.reasons += evaluate.check_schema(exchange.body)
        if tx.contents and got.status == "Success":
            row.reasons += evaluate.check_contents(
                tx.contents, exchange.body, lambda u: self._use_id(test, section, u))
        if tx.kind == "RetrieveTransaction" and exchange.body is not None:
            row.reasons += self._check_retrieve(test, section, tx, values, exchange)
        record.input, record.result = input_root, exchange.body
        for report in tx.reports:
            source = input_root if report.section == "InputMetadata" else exchange.body
            if source is not None:
                record.reports[report.name] = duties.report_value(source, report.xpath)
        entry = etree.SubElement(etree.SubElement(log, "TestStep", id=step.id), tx.kind)
        if input_root is not None:
            etree.SubElement(entry, "InputMetadata").append(_copy(input_root))
        if exchange.body is not None:
            etree.SubElement(entry, "Result").append(_copy(exchange.body))
        self._assert(tx, values, log, row)

    # -- patients -----------------------------------------------------------------------

    def _feed(self, patient: str, row: Row) -> str:
        if patient in self.fed or self.dry_run:
            return patient
        problem = self.feed.register(patient)
        if problem:
            row.reasons.append(problem)
        else:
            self.fed.add(patient)
        return patient

    def fresh_patient(self, label: str) -> tuple[str, Row]:
        """A new patient fed for a whole suite (its counts must not see other suites' data)."""
        row = Row(label, "", "feed_fresh_patient", "Success", "")
        patient = self._feed(self.patients.fresh(), row)  # type: ignore[union-attr]
        row.got = f"fed {patient}" if row.passed else "feed failed"
        return patient, row

    def _pif(self, test: Test, tx: Transaction, record: duties.StepRecord, row: Row) -> None:
        """Feed the test's patient: a new one with ``<CreateNewPatientId/>``, the run's named
        patient for 15817/15817b, plus the ids hard-wired in the test's raw wire captures
        (which the harness must not alter)."""
        if tx.create_new_patient_id:
            self.patient = self.patients.fresh()  # type: ignore[union-attr]
        elif test.id in PIF_TESTS:
            self.patient = self.named[PIF_TESTS[test.id]]
        patients = [self.patient] + sorted(_capture_patients(self.material, test) - {self.patient})
        for patient in patients:
            self._feed(patient, row)
        record.reports["$patientid$"] = self.patient
        row.got = "fed " + ", ".join(patients) if not row.reasons else "feed failed"

    # -- symbols ------------------------------------------------------------------------

    def _use_id(self, test: Test, section: Section, use: UseId) -> str | None:
        key = duties.section_key(self.material.tests, section.directory, use.testdir)
        record = self.store.get((key[0], key[1], use.step))
        return record.assigned(use.section).get(use.id) if record else None

    def _values(self, test: Test, section: Section, tx: Transaction) -> dict[str, str]:
        values: dict[str, str] = {}
        for use in tx.use_ids:
            value = self._use_id(test, section, use)
            if value is not None:
                values[use.symbol] = value
        for use in tx.use_reports:
            source_section = section.name if use.section == "THIS" else use.section
            record = self.store.get((use.test or test.id, source_section, use.step))
            if record is not None and use.report_name in record.reports:
                values[use.use_as] = record.reports[use.report_name]
        if self.endpoints.repository_unique_id:
            values.setdefault("$repuid$", self.endpoints.repository_unique_id)
        return values | builtin_symbols(datetime.now(UTC))

    def _text(self, section: Section, tx: Transaction, values: dict[str, str]) -> str:
        if tx.metadata_file is None:
            raise StepError("no MetadataFile")
        path = self.material.metadata(section.directory, tx.metadata_file)
        text = duties.substitute(path.read_text(encoding="utf-8"), values, in_xml=True)
        symbols = {u.symbol for u in tx.use_ids} | {u.use_as for u in tx.use_reports}
        missing = duties.unresolved(text, symbols - {"$patientid$"})
        if missing:
            raise StepError(f"unresolved {', '.join(missing)} (the step that reports it did not run or pass)")
        return text

    # -- sending ------------------------------------------------------------------------

    def _send(self, test: Test, section: Section, step: Step, tx: Transaction,
              values: dict[str, str], record: duties.StepRecord,
              ) -> tuple[transport.Exchange, etree._Element | None]:
        registry, repository = self.endpoints.registry, self.endpoints.repository
        if tx.kind == "HttpTransaction":
            if tx.body_file is None:
                raise StepError("HttpTransaction without BodyFile")
            body = (section.directory / tx.body_file).read_bytes()
            submission = _capture_submission(tx.headers.get("Content-Type", ""), body)
            if submission is not None:
                if not tx.keep_all_uids:
                    body = self._fresh_capture_uids(submission, body)
                    submission = _capture_submission(tx.headers.get("Content-Type", ""), body)
                record.assigned_uids = duties.assign_unique_ids(submission, self.ids, keep_all=True)
                record.assigned_uuids = duties.object_ids(submission)
                record.assigned_patient_ids = duties.patient_ids(submission)
            url = registry if tx.http_type == "r.b" else repository
            return self._post(url, dict(tx.headers), body, submission), submission
        text = self._text(section, tx, values)
        if tx.kind in ("RegisterTransaction", "ProvideAndRegisterTransaction"):
            root = self._prepare_submission(text, step, tx, record)
            if tx.kind == "RegisterTransaction":
                headers, body = transport.soap_request(root, Action.REGISTER, registry)
                return self._post(registry, headers, body, root), root
            documents = self._documents(section, tx, root, record)
            headers, body = transport.provide_and_register(root, documents, repository)
            return self._post(repository, headers, body, root), root
        root = _parse(text)
        if tx.kind in ("StoredQueryTransaction", "MPQTransaction"):
            headers, body = transport.soap_request(root, Action.STORED_QUERY, registry)
            return self._post(registry, headers, body), root
        if tx.kind == "RetrieveTransaction":
            headers, body = transport.mtom_request(root, Action.RETRIEVE, repository)
            return self._post(repository, headers, body), root
        raise StepError(f"transaction {tx.kind} is not supported")

    def _fresh_capture_uids(self, submission: etree._Element, body: bytes) -> bytes:
        """Duty 2 on a wire capture: its uniqueIds are replaced in the text, every other byte
        (boundaries, line ends, encodings: what the capture tests) stays as captured. Without
        this a capture could run once per registry (PnrXop and PnrNoXop even share one)."""
        for value in duties.assign_unique_ids(submission, self.ids, keep_all=True).values():
            body = body.replace(f'value="{value}"'.encode(), f'value="{self.ids.uid()}"'.encode())
        return body

    def _post(self, url: str, headers: dict[str, str], body: bytes,
              submission: etree._Element | None = None) -> transport.Exchange:
        """Send one transaction with the run's token, or for a ``submission`` with a writer's
        (``Endpoints.writer_token``)."""
        if self.dry_run:
            exchange = transport.Exchange(url=url, request_headers=headers, request_body=body)
            exchange.error = "dry run: not sent"
            return exchange
        token = self.endpoints.token
        if submission is not None and self.endpoints.writer_token is not None:
            token = self.endpoints.writer_token(url, duties.source_id(submission))
        if token:
            headers = {**headers, "Authorization": f"Bearer {token}"}
        return transport.send(self.client, url, headers, body)

    def _prepare_submission(self, text: str, step: Step, tx: Transaction,
                            record: duties.StepRecord) -> etree._Element:
        root = _parse(text)
        if duties.is_ebrim21(root):
            raise StepError(f"{tx.metadata_file} is ebRIM 2.1 and has no 3.0 translation")
        wrapped = root.find(q(LCM, "SubmitObjectsRequest"))
        if wrapped is not None:  # ReposAcceptanceTest files hold the whole ITI-41 body
            root = wrapped
        if root.tag != q(LCM, "SubmitObjectsRequest"):
            raise StepError(f"{tx.metadata_file} is not a SubmitObjectsRequest")
        patient = self.alternate if step.alt_patient_id else self.patient
        if not tx.no_patient_id or step.alt_patient_id:
            duties.assign_patient(root, patient)
        leftover = etree.tostring(root, encoding="unicode")
        if "$patientid$" in leftover:
            root = _parse(duties.substitute(leftover, {"$patientid$": patient}, in_xml=True))
        record.assigned_uids = duties.assign_unique_ids(
            root, self.ids, keep_all=tx.keep_all_uids, keep=tx.keep_uids)
        for symbolic, uid in record.assigned_uids.items():
            record.reports[f"{symbolic}_uid"] = uid
        duties.ensure_source_id(root)
        record.assigned_patient_ids = duties.patient_ids(root)
        if tx.assign_uuids:
            record.assigned_uuids = duties.assign_uuids(root, self.ids)
            record.assigned_patient_ids.update({
                record.assigned_uuids.get(k, k): v for k, v in list(record.assigned_patient_ids.items())})
        else:
            record.assigned_uuids = duties.object_ids(root)
        for symbolic, urn in record.assigned_uuids.items():
            record.reports[f"{symbolic}_uuid"] = urn
        return root

    def _documents(self, section: Section, tx: Transaction, root: etree._Element,
                   record: duties.StepRecord) -> dict[str, tuple[str, bytes]]:
        """The attachments of an ITI-41, keyed by the (possibly renamed) DocumentEntry id."""
        entries = {e.get("id", ""): e for e in root.iter(q(RIM, "ExtrinsicObject"))}
        out: dict[str, tuple[str, bytes]] = {}
        for symbolic, filename in tx.documents.items():
            data = (section.directory / filename).read_bytes()
            doc_id = record.assigned_uuids.get(symbolic, symbolic)
            entry = entries.get(doc_id)
            mime = entry.get("mimeType", "") if entry is not None else ""
            out[doc_id] = (mime, data)
            uid = record.assigned_uids.get(symbolic) or record.assigned_uids.get(doc_id)
            if uid:
                record.documents[uid] = (data, mime)
        return out

    # -- checks -------------------------------------------------------------------------

    def _check_retrieve(self, test: Test, section: Section, tx: Transaction,
                        values: dict[str, str], exchange: transport.Exchange) -> list[str]:
        """Retrieved bytes equal what this run submitted under that uniqueId (the
        ``ReferenceDocument`` file when the run did not submit it), and the mimeType equals
        the registry's (``ReferenceMetadata``)."""
        expected: dict[str, tuple[bytes, str | None]] = {}
        mimes = self._reference_mimes(section, tx)
        for reference in tx.reference_documents:
            uid = duties.substitute(reference.uid, values)
            submitted = self.store.submitted_document(uid)
            if submitted is not None:
                data, mime = submitted
            else:
                data, mime = (test.directory / reference.path).read_bytes(), ""
            expected[uid] = (data, mimes.get(uid) or mime or None)
        got = evaluate.retrieved_documents(exchange.body, exchange.attachments)  # type: ignore[arg-type]
        return evaluate.check_retrieved(got, expected)

    def _reference_mimes(self, section: Section, tx: Transaction) -> dict[str, str]:
        ref = tx.reference_metadata
        if ref is None:
            return {}
        key = duties.section_key(self.material.tests, section.directory, ref.testdir)
        record = self.store.get((key[0], key[1], ref.step))
        if record is None or record.result is None:
            return {}
        out = {}
        for entry in record.result.iter(q(RIM, "ExtrinsicObject")):
            for ei in entry.iter(q(RIM, "ExternalIdentifier")):
                if ei.get("identificationScheme") in duties.UNIQUE_ID_SCHEMES:
                    out[ei.get("value", "")] = entry.get("mimeType", "")
        return out

    def _assert(self, tx: Transaction, values: dict[str, str], log: etree._Element, row: Row) -> None:
        for assertion in tx.assertions:
            row.reasons += evaluate.check_assertion(
                log, assertion.id, duties.substitute(assertion.xpath, values))


def builtin_symbols(now: datetime) -> dict[str, str]:
    """The NIST engine's own symbols: today's date, and now / a year ago as DTM (UTC, the
    time zone of XDS times)."""
    # $now$ is used as an exclusive upper bound (…TimeTo): an object stamped during the current
    # second must fall before it, so it is the next second
    upper = now.replace(microsecond=0) + timedelta(seconds=1)
    return {
        "$DATE$": now.strftime("%Y%m%d"),
        "$now$": upper.strftime("%Y%m%d%H%M%S"),
        "$lastyear$": now.replace(year=now.year - 1, day=min(now.day, 28)).strftime("%Y%m%d%H%M%S"),
    }


def _parse(text: str) -> etree._Element:
    try:
        return xml.parse(text.encode("utf-8"))
    except RemoteProtocolError as exc:
        raise StepError(f"metadata is not well-formed: {exc}") from None


def _copy(element: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(element))


def _capture_submission(content_type: str, body: bytes) -> etree._Element | None:
    """The SubmitObjectsRequest inside a raw ITI-41/42 capture, if it has one."""
    try:
        root = mtom.decode(content_type, body).root if mtom.is_multipart(content_type) else body
        envelope = Envelope.from_bytes(root)
    except RemoteProtocolError:
        return None
    return next(envelope.body.iter(q(LCM, "SubmitObjectsRequest")), None)


def _capture_patients(material: Material, test: Test) -> set[str]:
    patients: set[str] = set()
    for section in test.sections:
        for step in section.steps:
            tx = step.transaction
            if tx is None or tx.kind != "HttpTransaction" or tx.body_file is None:
                continue
            body = (section.directory / tx.body_file).read_bytes()
            submission = _capture_submission(tx.headers.get("Content-Type", ""), body)
            if submission is not None:
                patients |= set(duties.patient_ids(submission).values())
    return patients
