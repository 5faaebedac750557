"""The stored queries this registry answers, by id (ITI TF-2a §3.18.4.1.2.3.7), and ``run``.

Each query is a function ``(session, parameters, limit) -> hits``; ``limit`` is one above the
result ceiling, so a query that reaches it is known to be too large without reading it all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from ihe.ebrim import AdhocQueryRequest, Identifiable
from registry.queries.answer import Answer, ReturnType, check_size, execute, unique
from registry.queries.errors import QueryError, fail
from registry.queries.find_documents import (
    find_documents,
    find_documents_by_reference_id,
    find_documents_for_multiple_patients,
)
from registry.queries.find_packages import (
    find_folders,
    find_folders_for_multiple_patients,
    find_submission_sets,
)
from registry.queries.get_contents import (
    get_all,
    get_folder_and_contents,
    get_folders_for_document,
    get_related_documents,
    get_submission_set_and_contents,
)
from registry.queries.get_objects import (
    get_associations,
    get_documents,
    get_documents_and_associations,
    get_folders,
    get_submission_sets,
)
from registry.queries.hits import Hit
from registry.queries.params import Parameters

QueryFunction = Callable[[Session, Parameters, int], list[Hit]]
#: what the caller may see of the hits (``registry.queries.consent_filter``), applied before the
#: size check and before any XML is read
Screen = Callable[[Session, list[Hit]], list[Hit]]


@dataclass(frozen=True)
class StoredQuery:
    name: str
    run: QueryFunction


#: query id (urn:uuid) → stored query
QUERIES: dict[str, StoredQuery] = {
    query_id: StoredQuery(name, function)
    for query_id, name, function in (
        ("urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d", "FindDocuments", find_documents),
        (
            "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492",
            "FindDocumentsByReferenceId",
            find_documents_by_reference_id,
        ),
        ("urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9", "FindSubmissionSets", find_submission_sets),
        ("urn:uuid:958f3006-baad-4929-a4de-ff1114824431", "FindFolders", find_folders),
        ("urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3", "GetAll", get_all),
        ("urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4", "GetDocuments", get_documents),
        ("urn:uuid:5737b14c-8a1a-4539-b659-e03a34a5e1e4", "GetFolders", get_folders),
        ("urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155", "GetAssociations", get_associations),
        (
            "urn:uuid:bab9529a-4a10-40b3-a01f-f68a615d247a",
            "GetDocumentsAndAssociations",
            get_documents_and_associations,
        ),
        ("urn:uuid:51224314-5390-4169-9b91-b1980040715a", "GetSubmissionSets", get_submission_sets),
        (
            "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83",
            "GetSubmissionSetAndContents",
            get_submission_set_and_contents,
        ),
        (
            "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7",
            "GetFolderAndContents",
            get_folder_and_contents,
        ),
        (
            "urn:uuid:10cae35a-c7f9-4cf5-b61e-fc3278ffb578",
            "GetFoldersForDocument",
            get_folders_for_document,
        ),
        (
            "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6",
            "GetRelatedDocuments",
            get_related_documents,
        ),
        (
            "urn:uuid:3d1bdb10-39a2-11de-89c2-2f44d94eaa9f",
            "FindDocumentsForMultiplePatients",
            find_documents_for_multiple_patients,
        ),
        (
            "urn:uuid:50d3f5ac-39a2-11de-a1ca-b366239e58df",
            "FindFoldersForMultiplePatients",
            find_folders_for_multiple_patients,
        ),
    )
}
#: stored query name → id, for clients and tests
QUERY_IDS = {query.name: query_id for query_id, query in QUERIES.items()}


def run_answer(session: Session, request: AdhocQueryRequest, max_results: int,
               screen: Screen | None = None) -> Answer:
    """Answer ``request`` (an ``Answer``: its objects, or its stored XML for LeafClass) with
    the hits ``screen`` lets through, or raise a ``RemoteProtocolError`` carrying the ITI-18
    error code."""
    query = QUERIES.get(request.query_id)
    if query is None:
        fail(QueryError.UNKNOWN_QUERY, f"unknown stored query {request.query_id!r}")
    return_type = ReturnType.parse(request.return_type)
    _custom_plans(session)
    found = query.run(session, Parameters(request.parameters), max_results + 1)
    if screen is not None:
        # the size check first: a query cut at the limit must fail, not answer the screened rest
        hits = unique(found)
        check_size(hits, max_results)
        found = screen(session, hits)
    return execute(session, found, return_type, max_results)


def _custom_plans(session: Session) -> None:
    """PostgreSQL: plan this transaction's queries for their actual parameters.

    The driver prepares a statement once it has run a few times, and PostgreSQL then may switch
    to a generic plan, chosen without the parameter values. For a stored query that is a
    disaster: with ``classCode = $n`` and no statistics for ``$n``, the generic plan of
    FindDocuments reads every object_codes row of the most common class (1.7 s at 100 k
    entries) instead of the patient's few documents (1 ms). Planning per execution costs well
    under a millisecond."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_SET_CUSTOM_PLANS)


_SET_CUSTOM_PLANS = text("SET LOCAL plan_cache_mode = force_custom_plan")


def run(session: Session, request: AdhocQueryRequest, max_results: int) -> list[Identifiable]:
    """Answer ``request``: the objects of the AdhocQueryResponse, or a ``RemoteProtocolError``
    carrying the ITI-18 error code."""
    return run_answer(session, request, max_results).objects()
