"""RAD-69 Retrieve Imaging Document Set (RAD TF-3 §4.69), the Imaging Document Source side.

Each requested instance is answered on its own (§4.69.4.2.3, as ITI-43 §3.43.4.2.3): one
``DocumentResponse`` (mimeType ``application/dicom``, bytes as an MTOM/XOP part) per instance
found, otherwise a RegistryError —

- ``XDSIRequestError`` (NIST's code) for an empty study or series UID;
- ``XDSUnknownRepositoryId`` for another repositoryUniqueId than this gateway's;
- ``XDSDocumentUniqueIdError`` for an instance the PACS does not have in that series and study;
- ``XDSRepositoryError`` when none of the requested transfer syntaxes can be supplied (the
  stored one is served when listed; uncompressed ones convert to each other), when the PACS
  fails, when the consent service cannot answer, or when ``gateway.access`` refuses the study
  to the caller (its codeContext is the decision point's reason, which never names hidden
  content; audited by ``gateway.access``, once per window).

Status: Success, PartialSuccess when some documents came back, Failure when none. A
HomeCommunityId in a request is echoed in its response (NIST ids_2018-4820).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

from fastapi import Request, Response

from gateway import imaging
from gateway.api.deps import GatewayContext
from gateway.pacs import InstanceInfo, PacsError
from gateway.retrieve import Selection, read, study_info, valid_uid
from ihe.ebrim import (
    DocumentRequest,
    DocumentResponse,
    RegistryError,
    RegistryResponse,
    ResponseStatus,
    RetrieveDocumentSetResponse,
)
from ihe.errors import ProtocolError
from ihe.atna.enum import RAD_69
from ihe.soap import Action
from ihe.xdsi import REQUEST_ERROR, RetrieveImagingDocumentSetRequest, StudyRequest
from partage.auth import Principal
from partage.consent import ConsentUnavailable
from partage.soap import Handler, SoapReply, SoapRequest, soap_endpoint

log = logging.getLogger(__name__)

DICOM = "application/dicom"


def make_handler(ctx: GatewayContext, principal: Principal) -> Handler:
    """The SOAP handler of one authenticated request."""

    def handle(request: SoapRequest) -> SoapReply:
        response = retrieve(ctx, principal, request)
        cids = [f"{uuid.uuid4().hex}@partage" for _ in response.documents]
        return SoapReply(
            body=response.to_element(xop_cid=cids),
            attachments={cid: (DICOM, doc.data) for cid, doc in zip(cids, response.documents)},
            mtom=True,
        )

    return handle


def make_endpoint(ctx: GatewayContext) -> Callable[..., Awaitable[Response]]:
    """The POST endpoint: bearer token first (401/503), then SOAP dispatch."""
    authenticated = ctx.principal()
    async def endpoint(request: Request, principal: Principal = authenticated) -> Response:
        serve = soap_endpoint({Action.RETRIEVE_IMAGING: make_handler(ctx, principal)},
                              lambda: ctx.settings.max_body_bytes)
        return await serve(request)

    return endpoint


def retrieve(ctx: GatewayContext, principal: Principal, request: SoapRequest
             ) -> RetrieveDocumentSetResponse:
    try:
        wanted = RetrieveImagingDocumentSetRequest.from_element(request.envelope.body)
    except ProtocolError as exc:
        return _answer([], [RegistryError(exc.code, str(exc), exc.location)])
    documents: list[DocumentResponse] = []
    errors: list[RegistryError] = []
    for study in wanted.studies:
        _retrieve_study(ctx, principal, study, wanted.transfer_syntaxes, documents, errors)
    if not documents and not errors:
        errors.append(RegistryError(REQUEST_ERROR, "the request names no instance"))
    return _answer(documents, errors)


def _retrieve_study(ctx: GatewayContext, principal: Principal, study: StudyRequest,
                    syntaxes: list[str], documents: list[DocumentResponse],
                    errors: list[RegistryError]) -> None:
    ours = ctx.settings.repository_unique_id
    pending: list[tuple[str, DocumentRequest]] = []
    for series in study.series:
        for doc in series.documents:
            uid = doc.document_unique_id
            if not study.study_instance_uid or not series.series_instance_uid:
                errors.append(RegistryError(
                    REQUEST_ERROR, "empty studyInstanceUID or seriesInstanceUID", uid))
            elif doc.repository_unique_id != ours:
                errors.append(RegistryError(
                    "XDSUnknownRepositoryId",
                    f"Unknown Repository UID [{doc.repository_unique_id}]. Expected [{ours}]",
                    doc.repository_unique_id))
            else:
                pending.append((series.series_instance_uid, doc))
    if not pending:
        return

    def fail_all(code: str, context: str, todo: list[tuple[str, DocumentRequest]]) -> None:
        errors.extend(RegistryError(code, context, d.document_unique_id) for _, d in todo)

    if not any(syntaxes):
        return fail_all("XDSRepositoryError", "the TransferSyntaxUIDList names no syntax",
                        pending)
    try:
        decision = ctx.access.authorize(principal, study.study_instance_uid)
    except ConsentUnavailable as exc:
        log.error("consent service unavailable: RAD-69 refused", extra={"reason": str(exc)})
        return fail_all("XDSRepositoryError", "consent service unavailable", pending)
    ctx.access.audit(principal, study.study_instance_uid, decision, RAD_69)
    if not decision.permit:
        log.info("access refused", extra={"sub": principal.subject,
                                          "study": study.study_instance_uid})
        return fail_all("XDSRepositoryError", f"access refused: {decision.reason}", pending)
    try:
        info = (study_info(ctx.pacs, study.study_instance_uid,
                           [d.document_unique_id for _, d in pending])
                if valid_uid(study.study_instance_uid) else None)
    except PacsError as exc:
        return fail_all("XDSRepositoryError", f"the site PACS failed: {exc}", pending)

    located = ({i.sop_instance_uid: (s.series_instance_uid, i)
                for s in info.series for i in s.instances} if info else {})
    found: list[tuple[str, InstanceInfo]] = []
    requests: dict[str, DocumentRequest] = {}
    for series_uid, doc in pending:
        uid = doc.document_unique_id
        where = located.get(uid) if valid_uid(series_uid) else None
        if where is None or where[0] != series_uid:
            context = (f"study {study.study_instance_uid} is unknown" if info is None else
                       f"no instance {uid} in series {series_uid} of study "
                       f"{study.study_instance_uid}")
            errors.append(RegistryError("XDSDocumentUniqueIdError", context, uid))
        elif uid not in requests:
            requests[uid] = doc
            found.append(where)
    if not found or info is None:
        return

    try:
        for head, data in read(ctx.pacs, ctx.cache, Selection(info, found)):
            doc = requests.pop(head.sop_instance_uid, None)
            if doc is None:
                continue
            syntax = imaging.choose_syntax(head.transfer_syntax_uid, syntaxes)
            if syntax is None:
                errors.append(RegistryError(
                    "XDSRepositoryError",
                    f"instance stored as {head.transfer_syntax_uid}; none of "
                    f"{[s for s in syntaxes if s]} can be supplied", head.sop_instance_uid))
                continue
            documents.append(DocumentResponse(
                ours, head.sop_instance_uid, DICOM,
                imaging.in_syntax(data, syntax, head.transfer_syntax_uid),
                home_community_id=doc.home_community_id))
    except PacsError as exc:
        log.warning("PACS failed during RAD-69", extra={"reason": str(exc)})
        fail_all("XDSRepositoryError", f"the site PACS failed: {exc}",
                 [("", d) for d in requests.values()])
        return
    fail_all("XDSRepositoryError", "the PACS did not return the instance",
             [("", d) for d in requests.values()])


def _answer(documents: list[DocumentResponse], errors: list[RegistryError]
            ) -> RetrieveDocumentSetResponse:
    if not errors:
        status = ResponseStatus.SUCCESS
    else:
        status = ResponseStatus.PARTIAL_SUCCESS if documents else ResponseStatus.FAILURE
    return RetrieveDocumentSetResponse(RegistryResponse(status, errors), documents)
