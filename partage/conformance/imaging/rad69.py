"""RAD-69 Retrieve Imaging Document Set checks: ids_2018-4803a/b/c (a whole study comes back,
unchanged), ids_2018-4811 cases 00–09 (the error codes of ``reference/error-codes.md``) and
ids_2018-4820 (HomeCommunityId echoed).

Each request starts from NIST's ``rad69-request.xml`` (its repositoryUniqueId, TransferSyntaxUIDList
and HomeCommunityId as written) with the UIDs of the imaging-std studies in place of the
ids_2018 ones, chosen by role so that each case keeps its meaning (``CASES``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from lxml import etree

from ihe.ebrim import DocumentRequest, ResponseStatus, RetrieveDocumentSetResponse
from ihe.errors import ProtocolError
from ihe.soap import Action
from ihe.xdsi import RetrieveImagingDocumentSetRequest, SeriesRequest, StudyRequest
from partage.conformance import transport
from partage.conformance.execute import Row
from partage.conformance.imaging.common import Source, Target, same_image
from partage.conformance.imaging.fixture import NIST_REPOSITORY, ImagingStudy

SUCCESS, FAILURE = "Success", "Failure"
DICOM = "application/dicom"


@dataclass(frozen=True)
class Case:
    """One adapted request of ids_2018-4811 / 4820: what it names and the answer it needs."""

    test: str
    case: str
    target: Target
    status: str
    error_code: str = ""


#: ids_2018-4811 and 4820, the error codes of error-codes.md. Our studies have one series each,
#: so "not in the requested series" names study b's instance under study a's series, and "not
#: in the requested study" names study b's series and instance under study a.
CASES = (
    Case("ids_2018-4811", "case-00_Comparison_Transaction", Target("a", "a", "a"), SUCCESS),
    Case("ids_2018-4811", "case-01_Invalid_RepositoryUID", Target("a", "a", "a"), FAILURE,
         "XDSUnknownRepositoryId"),
    Case("ids_2018-4811", "case-02_Unknown_SOP_Instance_UID", Target("a", "a", "?"), FAILURE,
         "XDSDocumentUniqueIdError"),
    Case("ids_2018-4811", "case-03_SOP_Instance_UID_not_in_requested_series",
         Target("b", "a", "b"), FAILURE, "XDSDocumentUniqueIdError"),
    Case("ids_2018-4811", "case-04_SOP_Instance_UID_not_in_requested_study",
         Target("a", "b", "b"), FAILURE, "XDSDocumentUniqueIdError"),
    Case("ids_2018-4811", "case-05_Empty_Study_Instance_UID", Target("", "a", "a"), FAILURE,
         "XDSIRequestError"),
    Case("ids_2018-4811", "case-06_Empty_Series_Instance_UID", Target("a", "", "a"), FAILURE,
         "XDSIRequestError"),
    Case("ids_2018-4811", "case-07_Empty_Study_and_Series_Instance_UIDs", Target("", "", "a"),
         FAILURE, "XDSIRequestError"),
    Case("ids_2018-4811", "case-08_Empty_Transfer_Syntax_UID", Target("b", "b", "b"), FAILURE,
         "XDSRepositoryError"),
    Case("ids_2018-4811", "case-09_Invalid_Transfer_Syntax_UID", Target("b", "b", "b"), FAILURE,
         "XDSRepositoryError"),
    Case("ids_2018-4820", "case-01_With_HomeCommunityID", Target("b", "b", "b"), SUCCESS),
    Case("ids_2018-4820", "case-02_Without_HomeCommunityID", Target("b", "b", "b"), SUCCESS),
)


def _template(path: Path, source: Source) -> tuple[RetrieveImagingDocumentSetRequest,
                                                     DocumentRequest]:
    """NIST's request and its first DocumentRequest, NIST's repositoryUniqueId replaced by the
    source's (another one, like case 01's, stays as written)."""
    request = RetrieveImagingDocumentSetRequest.from_bytes(path.read_bytes())
    document = request.studies[0].series[0].documents[0]
    if document.repository_unique_id == NIST_REPOSITORY:
        document.repository_unique_id = source.repository_unique_id
    return request, document


def case_request(tests: Path, case: Case, source: Source, studies: dict[str, ImagingStudy]
                 ) -> RetrieveImagingDocumentSetRequest:
    request, document = _template(tests / case.test / case.case / "rad69-request.xml", source)
    study, series, sop = case.target.uids(studies)
    document.document_unique_id = sop
    request.studies = [StudyRequest(study, [SeriesRequest(series, [document])])]
    return request


def study_request(tests: Path, letter: str, source: Source, study: ImagingStudy
                  ) -> RetrieveImagingDocumentSetRequest:
    """ids_2018-4803x: every instance of the study, series by series. The stored transfer
    syntax joins NIST's list, as a consumer able to read it asks (study c is JPEG, which the
    ids_2018 images were not)."""
    path = tests / f"ids_2018-4803{letter}" / "Rad69RetrieveRequest" / "rad69-request.xml"
    request, document = _template(path, source)
    series: dict[str, SeriesRequest] = {}
    for ds in study.images:
        series.setdefault(str(ds.SeriesInstanceUID), SeriesRequest(str(ds.SeriesInstanceUID))
                          ).documents.append(DocumentRequest(
                              document.repository_unique_id, str(ds.SOPInstanceUID),
                              document.home_community_id))
        stored = str(ds.file_meta.TransferSyntaxUID)
        if stored not in request.transfer_syntaxes:
            request.transfer_syntaxes.append(stored)
    request.studies = [StudyRequest(study.study_uid, list(series.values()))]
    return request


@dataclass
class Answer:
    response: RetrieveDocumentSetResponse | None
    problem: str = ""

    @property
    def status(self) -> str:
        if self.response is None:
            return self.problem
        return self.response.response.status.rsplit(":", 1)[-1]


def send(client: httpx.Client, source: Source, request: RetrieveImagingDocumentSetRequest
         ) -> Answer:
    """POST the request as MTOM/XOP (as NIST's Axis2 sends it) with the source's token."""
    headers, body = transport.mtom_request(request.to_element(), Action.RETRIEVE_IMAGING,
                                           source.rad69_url)
    exchange = transport.send(client, source.rad69_url, {**headers, **source.headers()}, body)
    if exchange.error or exchange.body is None:
        return Answer(None, exchange.error or f"HTTP {exchange.status_code}, no SOAP body")
    try:
        return Answer(RetrieveDocumentSetResponse.from_element(exchange.body))
    except (ProtocolError, etree.LxmlError) as exc:
        name = etree.QName(exchange.body).localname
        return Answer(None, f"HTTP {exchange.status_code}, {name}: {exc}")


def _status_row(test: str, section: str, step: str, answer: Answer, expected: str) -> Row:
    row = Row(test, section, step, expected, answer.status)
    if answer.status != expected:
        row.reasons.append(f"status {answer.status} != {expected}")
    if answer.response is not None and expected == SUCCESS and answer.response.response.errors:
        row.reasons += [f"{e.code}: {e.context}" for e in answer.response.response.errors]
    return row


def _documents(answer: Answer, request: RetrieveImagingDocumentSetRequest, source: Source
               ) -> list[str]:
    """NIST ValidateRad69Response: one DocumentResponse per requested instance, with the
    source's repositoryUniqueId, the SOP Instance UID and ``application/dicom``."""
    if answer.response is None:
        return [answer.problem]
    wanted = [d.document_unique_id for s in request.studies for r in s.series for d in r.documents]
    got = [d.document_unique_id for d in answer.response.documents]
    found = []
    if sorted(got) != sorted(wanted):
        found.append(f"documents {sorted(set(got))} != requested {sorted(set(wanted))}")
    for doc in answer.response.documents:
        if doc.repository_unique_id != source.repository_unique_id:
            found.append(f"{doc.document_unique_id}: RepositoryUniqueId "
                         f"{doc.repository_unique_id!r} != {source.repository_unique_id!r}")
        if doc.mime_type != DICOM:
            found.append(f"{doc.document_unique_id}: mimeType {doc.mime_type!r} != {DICOM!r}")
    return found


def study_rows(client: httpx.Client, tests: Path, source: Source,
               studies: dict[str, ImagingStudy]) -> Iterator[Row]:
    """ids_2018-4803a/b/c, each a whole study: the answer, its documents, its images."""
    for letter, study in studies.items():
        test = f"ids_2018-4803{letter}"
        request = study_request(tests, letter, source, study)
        answer = send(client, source, request)
        yield _status_row(test, "Rad69RetrieveRequest", "Rad69RetrieveRequest", answer, SUCCESS)
        count = len(study.images)
        docs = answer.response.documents if answer.response else []
        yield Row(test, "ValidateRad69Response", "ValidateRad69Response",
                  f"{count} documents", f"{len(docs)} documents",
                  _documents(answer, request, source))
        reasons = [r for d in docs for r in same_image(d.data, {letter: study})]
        yield Row(test, "ValidateReturnedImages", "ValidateReturnedImages",
                  f"{count} images unchanged", f"{len(docs)} compared",
                  reasons or ([] if docs else ["no image returned"]))


def _steps(tests: Path, case: Case) -> list[str]:
    plan = etree.parse(str(tests / case.test / case.case / "testplan.xml"),
                       etree.XMLParser(resolve_entities=False, no_network=True))
    return [str(s.get("id")) for s in plan.iter("TestStep")]


def case_rows(client: httpx.Client, tests: Path, source: Source,
              studies: dict[str, ImagingStudy]) -> Iterator[Row]:
    """ids_2018-4811 and 4820: the status step, then the error list or the HomeCommunityId."""
    for case in CASES:
        request = case_request(tests, case, source, studies)
        answer = send(client, source, request)
        steps = _steps(tests, case)
        yield _status_row(case.test, case.case, steps[0], answer, case.status)
        if len(steps) < 2:
            continue
        if case.status == FAILURE:
            yield _error_row(case, steps[1], answer)
        else:
            yield _community_row(case, steps[1], answer, request, studies)


def _error_row(case: Case, step: str, answer: Answer) -> Row:
    codes = [e.code for e in answer.response.response.errors] if answer.response else []
    row = Row(case.test, case.case, step, case.error_code, ",".join(codes) or answer.status)
    if not codes:
        row.reasons.append("RegistryErrorList is empty")
    elif case.error_code not in codes:
        row.reasons.append(f"no {case.error_code} among {codes}")
    return row


def _community_row(case: Case, step: str, answer: Answer,
                   request: RetrieveImagingDocumentSetRequest,
                   studies: dict[str, ImagingStudy]) -> Row:
    """NIST ``matchHomeCommunityIds``: each DocumentResponse carries the request's
    HomeCommunityId (none when the request had none), and the image came back."""
    sent = request.studies[0].series[0].documents[0].home_community_id
    docs = answer.response.documents if answer.response else []
    echoed = [d.home_community_id for d in docs]
    row = Row(case.test, case.case, step, f"HomeCommunityId {sent or 'absent'}",
              ",".join(h or "absent" for h in echoed) or answer.status)
    if not docs:
        row.reasons.append(f"no document returned ({answer.status})")
    row.reasons += [f"HomeCommunityId {h!r} != sent {sent!r}" for h in echoed if h != sent]
    row.reasons += [r for d in docs for r in same_image(d.data, studies)]
    return row
