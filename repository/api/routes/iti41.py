"""ITI-41 Provide and Register Document Set-b (ITI TF-2b §3.41).

The repository checks the documents against their DocumentEntries (§3.41.4.1.3: every entry
has its document and every document its entry; ``hash`` and ``size`` it computes itself and a
source-supplied value must agree, hex compared case-insensitively), sets ``hash``, ``size``
and ``repositoryUniqueId``, stores the bytes, then registers the metadata with ITI-42. The
registry's answer is relayed unchanged; when registration fails the stored bytes are removed,
so a document whose registration failed is never kept. Only a site gateway submitting for its
own site gets past the first check (``partage.sources``); ITI-42 is then forwarded with the
repository's own token. Each submission is audited once (110107 Import, ITI-41).
"""

from __future__ import annotations

import hashlib
import io
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ihe.ebrim import (
    ExtrinsicObject,
    ProvideAndRegisterDocumentSetRequest,
    RegistryError,
    RegistryResponse,
    ResponseStatus,
)
from ihe.atna import EventOutcomeIndicator
from ihe.errors import ProtocolError
from partage import sources
from partage.auth import Principal
from partage.soap import AuthenticatedHandler, SoapReply, SoapRequest
from partage.soapclient import PeerUnavailable, SoapClientError
from partage.tokens import TokenUnavailable
from repository import audit, crud
from repository.api.deps import RepositoryContext
from repository.models import StoredDocument

log = logging.getLogger(__name__)


@dataclass
class Incoming:
    """One document of the submission with the values the repository computed for it."""

    entry: ExtrinsicObject
    unique_id: str
    data: bytes
    sha1: str
    size: int


def make_handler(ctx: RepositoryContext) -> AuthenticatedHandler:
    def handle(request: SoapRequest, caller: Principal) -> SoapReply:
        return SoapReply(provide_and_register(ctx, request, caller).to_element())

    return handle


def failure(code: str, context: str, location: str = "") -> RegistryResponse:
    return RegistryResponse.from_errors([RegistryError(code, context, location)])


def provide_and_register(ctx: RepositoryContext, request: SoapRequest, caller: Principal
                         ) -> RegistryResponse:
    try:
        pnr = ProvideAndRegisterDocumentSetRequest.from_element(
            request.envelope.body, request.attachments
        )
    except ProtocolError as exc:
        return failure(exc.code, str(exc), exc.location)
    response = store_and_register(ctx, pnr, caller)
    audit.record_import(ctx.audit, caller, pnr.submission,
                        EventOutcomeIndicator.SUCCESS if response.status == ResponseStatus.SUCCESS
                        else EventOutcomeIndicator.MINOR_FAILURE)
    return response


def store_and_register(ctx: RepositoryContext, pnr: ProvideAndRegisterDocumentSetRequest,
                       caller: Principal) -> RegistryResponse:
    refused = sources.refusal(caller, pnr.submission, "XDSRepositoryError")
    if refused is not None:
        log.info("submission refused", extra={"caller": caller.subject,
                                               "reason": refused.context})
        return RegistryResponse.from_errors([refused])
    incoming, errors = match_documents(pnr)
    if errors:
        return RegistryResponse.from_errors(errors)
    for doc in incoming:
        doc.entry.set_slot("hash", [doc.sha1])
        doc.entry.set_slot("size", [str(doc.size)])
        doc.entry.set_slot("repositoryUniqueId", [ctx.settings.repository_unique_id])

    try:
        written = store_new(ctx, incoming)
    except Exception:  # any storage back-end failure: nothing may stay behind
        log.exception("storing documents failed")
        return failure("XDSRepositoryError", "the documents could not be stored")

    response = forward(ctx, pnr)
    if response.status != ResponseStatus.SUCCESS:
        discard(ctx, written)
        return response
    try:
        record(ctx, written)
    except SQLAlchemyError:
        log.exception("registered documents could not be recorded")
        discard(ctx, written)
        return failure("XDSRepositoryError", "the documents could not be recorded")
    return response


def match_documents(
    pnr: ProvideAndRegisterDocumentSetRequest,
) -> tuple[list[Incoming], list[RegistryError]]:
    """Pair documents with DocumentEntries, compute hash and size, collect every error."""
    entries = {o.id: o for o in pnr.submission.objects if isinstance(o, ExtrinsicObject)}
    documents: dict[str, bytes] = {}
    errors: list[RegistryError] = []
    for document in pnr.documents:
        if document.id in documents:
            errors.append(RegistryError(
                "XDSRepositoryMetadataError", f"document {document.id} is attached twice",
                document.id))
        documents[document.id] = document.data
    for entry_id in entries.keys() - documents.keys():
        errors.append(RegistryError(
            "XDSMissingDocument", f"DocumentEntry {entry_id} has no attached Document", entry_id))
    for document_id in documents.keys() - entries.keys():
        errors.append(RegistryError(
            "XDSMissingDocumentMetadata", f"Document {document_id} has no DocumentEntry",
            document_id))

    incoming: list[Incoming] = []
    seen: set[str] = set()
    for entry_id, entry in entries.items():
        if entry_id not in documents:
            continue
        data = documents[entry_id]
        doc = Incoming(entry, entry.unique_id or "", data, hashlib.sha1(data).hexdigest(),
                       len(data))
        errors += _entry_errors(doc, seen)
        seen.add(doc.unique_id)
        incoming.append(doc)
    return incoming, errors


def _entry_errors(doc: Incoming, seen: set[str]) -> list[RegistryError]:
    where = doc.entry.id
    if not doc.unique_id:
        return [RegistryError("XDSRepositoryMetadataError",
                              f"DocumentEntry {where} has no uniqueId", where)]
    errors = []
    if doc.unique_id in seen:
        errors.append(RegistryError("XDSRepositoryDuplicateUniqueIdInMessage",
                                    f"uniqueId {doc.unique_id} appears twice", doc.unique_id))
    if not doc.entry.mime_type:
        errors.append(RegistryError("XDSRepositoryMetadataError",
                                    f"DocumentEntry {where} has no mimeType", where))
    supplied_hash = doc.entry.slot_value("hash")
    if supplied_hash is not None and supplied_hash.strip().lower() != doc.sha1:
        errors.append(RegistryError(
            "XDSRepositoryMetadataError",
            f"hash {supplied_hash} of {doc.unique_id} does not match the document ({doc.sha1})",
            where))
    supplied_size = doc.entry.slot_value("size")
    if supplied_size is not None and supplied_size.strip() != str(doc.size):
        errors.append(RegistryError(
            "XDSRepositoryMetadataError",
            f"size {supplied_size} of {doc.unique_id} does not match the document ({doc.size})",
            where))
    return errors


def store_new(ctx: RepositoryContext, incoming: list[Incoming]) -> list[tuple[Incoming, str]]:
    """Write the bytes of documents not stored yet, each under a fresh key no row points to
    (provisional until ``record``). A uniqueId already stored is never overwritten: identical
    bytes are a resubmission, different ones the registry refuses (XDSNonIdenticalHash)."""
    with ctx.db.session() as session:
        existing = {uid: row.sha1 for uid, row in
                    crud.by_unique_id(session, (d.unique_id for d in incoming)).items()}
    written: list[tuple[Incoming, str]] = []
    try:
        for doc in incoming:
            if doc.unique_id in existing:
                if existing[doc.unique_id] != doc.sha1:
                    log.warning("resubmission with other bytes", extra={"uid": doc.unique_id})
                continue
            key = f"{doc.sha1[:2]}/{uuid.uuid4().hex}"
            ctx.store.put(key, io.BytesIO(doc.data))
            written.append((doc, key))
    except BaseException:
        discard(ctx, written)
        raise
    return written


def forward(ctx: RepositoryContext, pnr: ProvideAndRegisterDocumentSetRequest) -> RegistryResponse:
    """ITI-42 to the registry with the completed metadata and the repository's own token; its
    answer is returned as is."""
    try:
        return ctx.client.register(ctx.settings.registry_url, pnr.submission,
                                   ctx.registry_token())
    except TokenUnavailable as exc:
        log.warning("no token for the registry", extra={"reason": str(exc)})
        return failure("XDSRegistryNotAvailable", f"no token for the registry: {exc}")
    except PeerUnavailable as exc:
        log.warning("registry not available", extra={"reason": str(exc)})
        return failure("XDSRegistryNotAvailable", f"the registry could not be reached: {exc}")
    except SoapClientError as exc:
        return failure("XDSRegistryError", f"the registry did not accept the request: {exc}")


def record(ctx: RepositoryContext, written: list[tuple[Incoming, str]]) -> None:
    """Make the registered documents retrievable, one row each."""
    now = datetime.now(UTC)
    for doc, key in written:
        try:
            with ctx.db.session() as session:
                crud.add(session, StoredDocument(
                    unique_id=doc.unique_id, sha1=doc.sha1, size=doc.size,
                    mime_type=doc.entry.mime_type or "", storage_key=key, created=now))
        except IntegrityError:
            # a concurrent submission of the same uniqueId got there first; keep its bytes
            ctx.store.delete(key)


def discard(ctx: RepositoryContext, written: list[tuple[Incoming, str]]) -> None:
    for _doc, key in written:
        try:
            ctx.store.delete(key)
        except Exception:
            log.exception("could not delete provisional document", extra={"key": key})
