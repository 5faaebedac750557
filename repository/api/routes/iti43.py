"""ITI-43 Retrieve Document Set (ITI TF-2b §3.43).

Each DocumentRequest is answered on its own (§3.43.4.2.3): a request for another repository
gets XDSUnknownRepositoryId, an unknown document XDSDocumentUniqueIdError. The status is
Success when all were found, PartialSuccess when some were, Failure when none. Documents go
back as XOP parts of an MTOM answer with the mimeType they were stored with. Only callers with
a bearer token get here (``partage.soap.BearerAction``); who retrieved what is logged and
audited (110106 Export, ITI-43).
"""

from __future__ import annotations

import logging
import uuid

from ihe.ebrim import (
    DocumentResponse,
    RegistryError,
    RegistryResponse,
    ResponseStatus,
    RetrieveDocumentSetRequest,
    RetrieveDocumentSetResponse,
)
from ihe.atna import EventOutcomeIndicator
from ihe.errors import ProtocolError
from partage.auth import Principal
from partage.soap import AuthenticatedHandler, SoapReply, SoapRequest
from repository import audit, crud
from repository.api.deps import RepositoryContext
from repository.storage import DocumentNotFound

log = logging.getLogger(__name__)


def make_handler(ctx: RepositoryContext) -> AuthenticatedHandler:
    def handle(request: SoapRequest, principal: Principal) -> SoapReply:
        response = retrieve(ctx, request)
        served = [d.document_unique_id for d in response.documents]
        log.info("retrieve", extra={"subject": principal.subject, "documents": served})
        if response.response.status == ResponseStatus.SUCCESS:
            audit.record_retrieve(ctx.audit, principal, served, EventOutcomeIndicator.SUCCESS)
        else:
            audit.record_retrieve(ctx.audit, principal, served or [
                e.location for e in response.response.errors if e.location],
                EventOutcomeIndicator.MINOR_FAILURE)
        cids = [f"{uuid.uuid4().hex}@partage" for _ in response.documents]
        return SoapReply(
            body=response.to_element(xop_cid=cids),
            attachments={
                cid: (doc.mime_type, doc.data) for cid, doc in zip(cids, response.documents)
            },
            mtom=True,
        )

    return handle


def retrieve(ctx: RepositoryContext, request: SoapRequest) -> RetrieveDocumentSetResponse:
    try:
        wanted = RetrieveDocumentSetRequest.from_element(request.envelope.body)
    except ProtocolError as exc:
        return _failed([RegistryError(exc.code, str(exc), exc.location)])
    if not wanted.requests:
        return _failed([RegistryError("XDSRepositoryError", "no DocumentRequest in the request")])

    ours = ctx.settings.repository_unique_id
    with ctx.db.session() as session:
        rows = crud.by_unique_id(
            session, (r.document_unique_id for r in wanted.requests
                      if r.repository_unique_id == ours)
        )
    documents: list[DocumentResponse] = []
    errors: list[RegistryError] = []
    for req in wanted.requests:
        if req.repository_unique_id != ours:
            errors.append(RegistryError(
                "XDSUnknownRepositoryId",
                f"repository {req.repository_unique_id} is not this repository ({ours})",
                req.repository_unique_id))
            continue
        row = rows.get(req.document_unique_id)
        if row is None:
            errors.append(RegistryError(
                "XDSDocumentUniqueIdError", f"document {req.document_unique_id} is not stored here",
                req.document_unique_id))
            continue
        try:
            data = ctx.store.read(row.storage_key)
        except DocumentNotFound:
            log.error("stored document has no bytes", extra={"uid": row.unique_id})
            errors.append(RegistryError(
                "XDSRepositoryError", f"document {req.document_unique_id} cannot be read",
                req.document_unique_id))
            continue
        documents.append(DocumentResponse(
            repository_unique_id=ours, document_unique_id=row.unique_id,
            mime_type=row.mime_type, data=data, home_community_id=req.home_community_id))

    if not errors:
        status = ResponseStatus.SUCCESS
    else:
        status = ResponseStatus.PARTIAL_SUCCESS if documents else ResponseStatus.FAILURE
    return RetrieveDocumentSetResponse(RegistryResponse(status, errors), documents)


def _failed(errors: list[RegistryError]) -> RetrieveDocumentSetResponse:
    return RetrieveDocumentSetResponse(RegistryResponse(ResponseStatus.FAILURE, errors), [])
