"""The conformance harness: its parser and duties on real NIST test plans, its evaluator on
real answers, and each suite run in-process against our own registry and repository."""

from __future__ import annotations

import uuid
from itertools import count
from pathlib import Path

import pytest
from lxml import etree

from ihe.ebrim.enum import Scheme
from ihe.namespaces import RIM, q
from partage.conformance import duties, evaluate, runner
from partage.conformance.execute import Material
from partage.conformance.pins import pinned_codes
from partage.conformance.suites import SUITES
from partage.conformance.testplan import ContentCheck, load_test


@pytest.fixture(scope="module")
def material(conformance_dir: Path) -> Material:
    return Material(conformance_dir)


def counting_ids() -> duties.Ids:
    numbers = count(1)
    return duties.Ids(new_uuid=lambda: uuid.UUID(int=next(numbers)))


# -- parser -------------------------------------------------------------------------------


def test_parses_sections_in_index_order_with_use_ids_and_contents(material: Material) -> None:
    test = load_test(material.tests, "11990")
    assert [s.name for s in test.sections] == ["submit", "eval"]
    submit = test.sections[0].steps[0]
    assert submit.expected_status == "Success"
    assert submit.transaction is not None and submit.transaction.iti == "ITI-42"
    assert submit.transaction.no_patient_id
    assert submit.transaction.use_reports[0].test == "15817"
    by_uid, verify = test.sections[1].steps
    assert by_uid.transaction is not None
    assert by_uid.transaction.use_ids[0].symbol == "$ssuid$"
    assert by_uid.transaction.contents == (ContentCheck("SSwithOneDoc"),)
    assert verify.transaction is not None and verify.transaction.kind == "NullTransaction"
    assert "Approved" in verify.transaction.assertions[0].xpath


def test_parses_error_expectations_keep_lists_and_waits(material: Material) -> None:
    steps = {s.id: s for s in load_test(material.tests, "12004").sections[0].steps}
    diff = steps["resubmit_doc_diff_hash"]
    assert diff.expected_error_messages == ("XDSNonIdenticalHash",)
    assert diff.transaction is not None and diff.transaction.keep_uids == ("Document01",)
    assert not diff.transaction.keep_all_uids
    assert load_test(material.tests, "11996").sections[0].steps[0].alt_patient_id
    add = load_test(material.tests, "12323").sections[4].steps[0]
    assert add.transaction is not None and add.transaction.wait_before_ms == 4000


def test_parses_raw_http_and_crlf_index(material: Material) -> None:
    xop = load_test(material.tests, "PnrXop").sections[1].steps[0].transaction
    assert xop is not None and xop.kind == "HttpTransaction" and xop.body_file == "body.txt"
    assert xop.headers["Content-Type"].startswith("multipart/related")
    assert [s.name for s in load_test(material.tests, "15816").sections] == ["Register_Stable", "PnR"]


def test_every_suite_test_parses(material: Material) -> None:
    for tests in SUITES.values():
        for test_id in tests:
            assert load_test(material.tests, test_id).sections


# -- duties -------------------------------------------------------------------------------


def single_doc(material: Material) -> etree._Element:
    path = material.metadata(material.tests / "11990" / "submit", "single_doc.xml")
    return etree.fromstring(path.read_bytes())


def test_prefers_the_ebrim30_translation(material: Material) -> None:
    path = material.metadata(material.tests / "11990" / "submit", "single_doc.xml")
    assert "nist-testkit-v3" in str(path)
    assert not duties.is_ebrim21(etree.fromstring(path.read_bytes()))


def test_duties_set_patient_unique_ids_source_and_uuids(material: Material) -> None:
    root = single_doc(material)
    ids = counting_ids()
    duties.assign_patient(root, "P1^^^&1.2.3&ISO")
    uids = duties.assign_unique_ids(root, ids)
    duties.ensure_source_id(root)
    uuids = duties.assign_uuids(root, ids)
    assert set(duties.patient_ids(root).values()) == {"P1^^^&1.2.3&ISO"}
    assert set(uids) == {"Document01", "SubmissionSet01"}
    assert all(v.startswith("2.25.") for v in uids.values()) and len(set(uids.values())) == 2
    assert uuids["Document01"].startswith("urn:uuid:")
    ids_in_doc = {e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
    assert all(i.startswith("urn:uuid:") for i in ids_in_doc)
    refs = {e.get("classifiedObject") for e in root.iter(q(RIM, "Classification"))}
    assert refs <= set(uuids.values())
    sources = [e for e in root.iter(q(RIM, "ExternalIdentifier"))
               if e.get("identificationScheme") == Scheme.SS_SOURCE_ID]
    assert len(sources) == 1  # the file's own sourceId is kept, none added


def test_no_assign_uids_keeps_the_named_object(material: Material) -> None:
    root = single_doc(material)
    uids = duties.assign_unique_ids(root, counting_ids(), keep=("Document01",))
    assert uids["Document01"] == "Document01"
    assert uids["SubmissionSet01"].startswith("2.25.")


def test_substitution_escapes_for_xml_and_store_resolves_testdir(material: Material) -> None:
    text = duties.substitute("<v a='$p$'>$p$</v>", {"$p$": "X^^^&1.2&ISO"}, in_xml=True)
    assert etree.fromstring(text).text == "X^^^&1.2&ISO"
    key = duties.section_key(material.tests, material.tests / "11897" / "approved", "../../12346/single_doc")
    assert key == ("12346", "single_doc")
    key = duties.section_key(material.tests, material.tests / "12021" / "retrieve", "submit")
    assert key == ("12021", "submit")


def test_pins_apply_to_the_named_steps_only() -> None:
    assert [p.code for p in pinned_codes("11998a", "classCode", "submit")] == ["XDSRegistryMetadataError"]
    assert [p.code for p in pinned_codes("12368", "doc_leafclass", "leafclass")] == ["XDSResultNotSinglePatient"]
    assert pinned_codes("12368", "doc_objectref", "objectref") == []


# -- evaluator ----------------------------------------------------------------------------

FAILURE = b"""<rs:RegistryResponse xmlns:rs="urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
 status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"><rs:RegistryErrorList
 highestSeverity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"><rs:RegistryError
 errorCode="XDSRegistryMetadataError" codeContext="missing classCode"
 severity="urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"/></rs:RegistryErrorList>
</rs:RegistryResponse>"""


def test_evaluator_fails_wrong_status_and_missing_code() -> None:
    got = evaluate.outcome(etree.fromstring(FAILURE))
    assert got.status == "Failure"
    assert evaluate.check_status("Failure", got) == []
    assert evaluate.check_status("Success", got)
    assert evaluate.check_errors(got, ("classCode",), ("XDSRegistryMetadataError",)) == []
    assert evaluate.check_errors(got, (), ("XDSUnknownPatientId",))
    assert evaluate.check_schema(etree.fromstring(FAILURE)) == []
    broken = etree.fromstring(FAILURE.replace(b'status="urn', b'bogus="1" status="urn'))
    assert evaluate.check_schema(broken)


def test_evaluator_counts_query_contents(material: Material) -> None:
    response = etree.fromstring(
        b'<query:AdhocQueryResponse xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0" '
        b'xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" '
        b'status="urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"><rim:RegistryObjectList>'
        b'<rim:ObjectRef id="urn:uuid:1"/><rim:ObjectRef id="urn:uuid:2"/>'
        b"</rim:RegistryObjectList></query:AdhocQueryResponse>")
    none = lambda _: None  # noqa: E731
    assert evaluate.check_contents((ContentCheck("ObjectRefs", 2),), response, none) == []
    assert evaluate.check_contents((ContentCheck("ObjectRefs", 1),), response, none)
    assert evaluate.check_contents((ContentCheck("None"),), response, none)
    assert evaluate.check_contents((ContentCheck("SSwithOneDoc"),), response, none)


# -- the suites against our own services --------------------------------------------------


@pytest.mark.parametrize("suite", ["registry", "stored-query", "repository"])
def test_suite_passes_against_our_services(suite: str, conformance_dir: Path) -> None:
    lines: list[str] = []
    code = runner.main(suite=suite, material=conformance_dir, write=lines.append)
    failures = [line for line in lines if "  FAIL  " in line]
    assert code == 0 and not failures, "".join(failures)
    assert lines[-1].strip().endswith("0 failed")
