"""FindDocuments, FindDocumentsByReferenceId, FindSubmissionSets, FindFolders and the MPQ
queries against rows written as the storage contract says, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from ihe.ebrim import ObjectRef, ObjectType, Status
from ihe.ebrim.builders import Code
from ihe.errors import RemoteProtocolError
from registry import queries
from tests.registry.query_factory import (
    DCM,
    OTHER,
    PATIENT,
    Doc,
    Registry,
    database,
    query,
    quoted,
    with_slots,
)

APPROVED = quoted(Status.APPROVED)
BOTH = quoted(Status.APPROVED, Status.DEPRECATED)
PID = f"'{PATIENT}'"
CT = Code("CT", DCM, "CT")
MR = Code("MR", DCM, "MR")
HEAD = Code("T-D1100", "SRT", "Head")


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    db = database(database_url)
    with db.session() as s:
        yield s
    db.engine.dispose()


def ids(session: Session, request, max_results: int = 100) -> list[str]:  # type: ignore[no-untyped-def]
    objects = queries.run(session, request, max_results)
    assert all(isinstance(o, ObjectRef) for o in objects)
    return [o.id for o in objects]


def find(session: Session, **params: str | list[str]) -> list[str]:
    return ids(
        session,
        query(
            "FindDocuments",
            XDSDocumentEntryPatientId=PID,
            XDSDocumentEntryStatus=params.pop("status", APPROVED),
            **{f"XDSDocumentEntry{k}": v for k, v in params.items()},
        ),
    )


def test_patient_and_status(session: Session) -> None:
    reg = Registry(session)
    approved = reg.document()
    deprecated = reg.document(status=Status.DEPRECATED)
    reg.document(status=Status.SUBMITTED)
    reg.document(patient=OTHER)
    assert find(session) == [approved]
    assert find(session, status=quoted(Status.DEPRECATED)) == [deprecated]
    assert find(session, status=quoted(Status.APPROVED, Status.DEPRECATED, Status.SUBMITTED)) == [
        approved,
        deprecated,
    ]


def test_codes_or_within_a_slot(session: Session) -> None:
    reg = Registry(session)
    reports = reg.document()
    images = reg.document(class_code=Code("IMAGES", "1.3.6.1.4.1.19376.1.2.6.1", "Images"))
    reg.document(class_code=Code("REPORTS", "another-scheme", "Reports"))
    assert find(session, ClassCode=quoted("REPORTS^^1.3.6.1.4.1.19376.1.2.6.1")) == [reports]
    both = quoted("REPORTS^^1.3.6.1.4.1.19376.1.2.6.1", "IMAGES^^1.3.6.1.4.1.19376.1.2.6.1")
    assert find(session, ClassCode=both) == [reports, images]
    assert find(session, TypeCode=quoted("18748-4^^2.16.840.1.113883.6.1"), ClassCode=both) == [
        reports,
        images,
    ]
    assert find(session, FormatCode=quoted("nothing^^1.2")) == []


def test_event_codes_and_across_slots(session: Session) -> None:
    """NIST 11897 ``and``/``eventcode_multi_select``: repeated Slots are AND-ed."""
    reg = Registry(session)
    ct_head = reg.document(events=[CT, HEAD])
    ct = reg.document(events=[CT])
    mr = reg.document(events=[MR])
    ct_v, mr_v, head_v = (f"{c.code}^^{c.scheme}" for c in (CT, MR, HEAD))
    assert find(session, EventCodeList=quoted(ct_v, mr_v)) == [ct_head, ct, mr]
    # several Value elements of one Slot are still one OR-list
    assert find(session, EventCodeList=[quoted(ct_v), quoted(head_v)]) == [ct_head, ct]
    request = with_slots(
        query("FindDocuments", XDSDocumentEntryPatientId=PID, XDSDocumentEntryStatus=APPROVED),
        ("XDSDocumentEntryEventCodeList", quoted(ct_v)),
        ("XDSDocumentEntryEventCodeList", quoted(head_v)),
    )
    assert ids(session, request) == [ct_head]


def test_confidentiality_and_or(session: Session) -> None:
    reg = Registry(session)
    normal = Code("N", "2.16.840.1.113883.5.25", "normal")
    restricted = Code("R", "2.16.840.1.113883.5.25", "restricted")
    both = reg.document(confidentiality=[normal, restricted])
    only_n = reg.document(confidentiality=[normal])
    n, r = "N^^2.16.840.1.113883.5.25", "R^^2.16.840.1.113883.5.25"
    assert find(session, ConfidentialityCode=quoted(n, r)) == [both, only_n]
    request = with_slots(
        query("FindDocuments", XDSDocumentEntryPatientId=PID, XDSDocumentEntryStatus=APPROVED),
        ("XDSDocumentEntryConfidentialityCode", quoted(n)),
        ("XDSDocumentEntryConfidentialityCode", quoted(r)),
    )
    assert ids(session, request) == [both]


def test_time_bounds_from_inclusive_to_exclusive(session: Session) -> None:
    """NIST 11897 ``creationtime_left_edge`` / ``right_edge``."""
    reg = Registry(session)
    edge = reg.document(creation_time="20041224")
    later = reg.document(creation_time="200501010856", service_start="2005", service_stop="200506")
    assert find(session, CreationTimeFrom="20041224", CreationTimeTo="20050101") == [edge]
    assert find(session, CreationTimeFrom="20041124", CreationTimeTo="20041224") == []
    assert find(session, CreationTimeFrom="200501010856") == [later]
    assert find(session, CreationTimeTo="200501010856") == [edge]
    assert find(session, ServiceStartTimeFrom="2005", ServiceStartTimeTo="2006") == [later]
    assert find(session, ServiceStopTimeTo="2005") == []
    with pytest.raises(RemoteProtocolError) as err:
        find(session, CreationTimeFrom="('2004','2005')")
    assert err.value.code == "XDSStoredQueryParamNumber"


def test_author_like(session: Session) -> None:
    reg = Registry(session)
    ford = reg.document(authors=["^Ford^Harrison^^^Dr"])
    reg.document(authors=["^Dupont^Jean"])
    assert find(session, AuthorPerson=quoted("%Ford%")) == [ford]
    assert find(session, AuthorPerson=quoted("%ford%", "%nobody%")) == [ford]
    assert find(session, AuthorPerson=quoted("Ford")) == []


def test_entry_type_defaults_to_stable(session: Session) -> None:
    reg = Registry(session)
    stable = reg.document()
    on_demand = reg.document(object_type=ObjectType.ON_DEMAND_DOCUMENT)
    assert find(session) == [stable]
    assert find(session, Type=quoted(ObjectType.ON_DEMAND_DOCUMENT)) == [on_demand]
    assert find(session, Type=quoted(ObjectType.STABLE_DOCUMENT, ObjectType.ON_DEMAND_DOCUMENT)) == [
        stable,
        on_demand,
    ]


def test_legacy_code_scheme_parameter_with_non_ce_code_fails(session: Session) -> None:
    """NIST 11897 ``old_scheme``; with CE codes the extra parameter is ignored
    (``practicesetting_scheme``)."""
    reg = Registry(session)
    doc = reg.document()
    with pytest.raises(RemoteProtocolError) as err:
        find(session, PracticeSettingCode=quoted("R"),
             PracticeSettingCodeScheme=quoted("1.2.250.1.213.1.1.4.9"))
    assert err.value.code == "XDSStoredQueryParamNumber"
    assert find(session, PracticeSettingCode=quoted("R^^1.2.250.1.213.1.1.4.9"),
                PracticeSettingCodeScheme=quoted("1.2.250.1.213.1.1.4.9")) == [doc]


def test_missing_patient_and_unknown_query(session: Session) -> None:
    with pytest.raises(RemoteProtocolError) as err:
        queries.run(session, query("FindDocuments", XDSDocumentEntryStatus=APPROVED), 10)
    assert err.value.code == "XDSStoredQueryMissingParam"
    request = query("FindDocuments")
    request.query_id = "urn:uuid:00000000-0000-0000-0000-000000000000"
    with pytest.raises(RemoteProtocolError) as err:
        queries.run(session, request, 10)
    assert err.value.code == "XDSUnknownStoredQuery"


def test_too_many_results(session: Session) -> None:
    reg = Registry(session)
    for _ in range(4):
        reg.document()
    assert len(ids(session, query("FindDocuments", XDSDocumentEntryPatientId=PID,
                                  XDSDocumentEntryStatus=APPROVED), max_results=4)) == 4
    with pytest.raises(RemoteProtocolError) as err:
        ids(session, query("FindDocuments", XDSDocumentEntryPatientId=PID,
                           XDSDocumentEntryStatus=APPROVED), max_results=3)
    assert err.value.code == "XDSTooManyResults"


def test_find_by_reference_id(session: Session) -> None:
    accession = "A123^^^&1.2.250.1.999.8&ISO^urn:ihe:iti:xds:2013:accession"
    study = "1.2.3.4^^^^urn:ihe:iti:xds:2016:studyInstanceUID"
    reg = Registry(session)
    doc = reg.document(reference_ids=[accession, study])
    reg.document(reference_ids=["B456^^^&1.2.250.1.999.8&ISO^urn:ihe:iti:xds:2013:accession"])
    request = query(
        "FindDocumentsByReferenceId",
        XDSDocumentEntryPatientId=PID,
        XDSDocumentEntryStatus=APPROVED,
        XDSDocumentEntryReferenceIdList=quoted(study),
    )
    assert ids(session, request) == [doc]
    with pytest.raises(RemoteProtocolError) as err:
        ids(session, query("FindDocumentsByReferenceId", XDSDocumentEntryPatientId=PID,
                           XDSDocumentEntryStatus=APPROVED))
    assert err.value.code == "XDSStoredQueryMissingParam"


def test_find_documents_for_multiple_patients(session: Session) -> None:
    reg = Registry(session)
    mine = reg.document(events=[CT])
    theirs = reg.document(patient=OTHER, events=[CT])
    reg.document(patient=OTHER, events=[MR])
    ct = f"{CT.code}^^{CT.scheme}"
    name = "FindDocumentsForMultiplePatients"
    assert ids(session, query(name, XDSDocumentEntryStatus=APPROVED,
                              XDSDocumentEntryEventCodeList=quoted(ct))) == [mine, theirs]
    assert ids(session, query(name, XDSDocumentEntryStatus=APPROVED,
                              XDSDocumentEntryPatientId=quoted(PATIENT, OTHER),
                              XDSDocumentEntryEventCodeList=quoted(ct))) == [mine, theirs]
    assert ids(session, query(name, XDSDocumentEntryStatus=APPROVED,
                              XDSDocumentEntryPatientId=quoted(OTHER),
                              XDSDocumentEntryEventCodeList=quoted(ct))) == [theirs]
    with pytest.raises(RemoteProtocolError) as err:  # NIST 12364 ``nothing``
        ids(session, query(name, XDSDocumentEntryStatus=APPROVED))
    assert err.value.code == "XDSStoredQueryMissingParam"
    with pytest.raises(RemoteProtocolError) as err:  # 12368: LeafClass stays single-patient
        queries.run(session, query(name, "LeafClass", XDSDocumentEntryStatus=APPROVED,
                                   XDSDocumentEntryEventCodeList=quoted(ct)), 10)
    assert err.value.code == "XDSResultNotSinglePatient"


def test_find_submission_sets(session: Session) -> None:
    reg = Registry(session)
    doc = reg.document()
    first = reg.submission_set([doc], submission_time="20240105", authors=("^Martin^Paul",))
    second = reg.submission_set([], source_id="1.2.250.1.999.2.2", submission_time="20240110",
                                content_type=Code("X", "1.2.250.1.999.6", "X"))
    reg.submission_set([], patient=OTHER)
    name = "FindSubmissionSets"
    base = {"XDSSubmissionSetPatientId": PID, "XDSSubmissionSetStatus": APPROVED}
    assert ids(session, query(name, **base)) == [first, second]
    assert ids(session, query(name, **base, XDSSubmissionSetSourceId=quoted("1.2.250.1.999.2.2"))) == [second]
    assert ids(session, query(name, **base, XDSSubmissionSetSubmissionTimeFrom="20240106")) == [second]
    assert ids(session, query(name, **base, XDSSubmissionSetSubmissionTimeTo="20240106")) == [first]
    assert ids(session, query(name, **base, XDSSubmissionSetAuthorPerson="'%Martin%'")) == [first]
    assert ids(session, query(name, **base, XDSSubmissionSetContentType=quoted("X^^1.2.250.1.999.6"))) == [second]


def test_find_folders(session: Session) -> None:
    reg = Registry(session)
    a, b = Code("A", "s", "A"), Code("B", "s", "B")
    both = reg.folder([], codes=(a, b), last_update_time="20240301")
    only_a = reg.folder([], codes=(a,), last_update_time="20240101")
    reg.folder([], status=Status.SUBMITTED)
    other = reg.folder([], patient=OTHER, codes=(a,))
    base = {"XDSFolderPatientId": PID, "XDSFolderStatus": APPROVED}
    assert ids(session, query("FindFolders", **base, XDSFolderCodeList=quoted("A^^s"))) == [both, only_a]
    assert ids(session, query("FindFolders", **base, XDSFolderLastUpdateTimeFrom="202402")) == [both]
    request = with_slots(
        query("FindFolders", **base),
        ("XDSFolderCodeList", quoted("A^^s")),
        ("XDSFolderCodeList", quoted("B^^s")),
    )
    assert ids(session, request) == [both]
    assert ids(session, query("FindFoldersForMultiplePatients", XDSFolderStatus=APPROVED,
                              XDSFolderCodeList=quoted("A^^s"))) == [both, only_a, other]
