"""The two registry transactions the benchmark drives, as real SOAP 1.2 over HTTP."""

from __future__ import annotations

import time
import uuid

import httpx

from ihe.ebrim import (
    AdhocQueryRequest,
    AdhocQueryResponse,
    RegistryResponse,
    Slot,
    Status,
    SubmitObjectsRequest,
)
from ihe.ebrim.enum import ResponseStatus
from ihe.namespaces import RIM, q
from ihe.soap import Action, Envelope, Fault

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
CONTENT_TYPE = "application/soap+xml; charset=utf-8"


def find_documents(patient_id: str, **filters: list[str]) -> AdhocQueryRequest:
    """ITI-18 FindDocuments for Approved entries of ``patient_id``; ``filters`` maps a
    parameter name without its ``$XDSDocumentEntry`` prefix to its slot values."""
    slots = [
        Slot("$XDSDocumentEntryPatientId", [f"'{patient_id}'"]),
        Slot("$XDSDocumentEntryStatus", [f"('{Status.APPROVED}')"]),
    ]
    slots += [Slot(f"$XDSDocumentEntry{name}", values) for name, values in filters.items()]
    return AdhocQueryRequest(query_id=FIND_DOCUMENTS, parameters=slots)


def _post(client: httpx.Client, url: str, action: str, body: bytes) -> tuple[Envelope, float]:
    """POST one SOAP request; the answer's envelope and the seconds until its last byte
    arrived (parsing it is the client's time, not the registry's)."""
    headers = {"content-type": f'{CONTENT_TYPE}; action="{action}"'}
    start = time.perf_counter()
    response = client.post(url, content=body, headers=headers)
    elapsed = time.perf_counter() - start
    envelope = Envelope.from_bytes(response.content)
    if envelope.body.tag.endswith("}Fault"):
        raise RuntimeError(f"SOAP fault from {url}: {Fault.from_element(envelope.body).reason}")
    return envelope, elapsed


def envelope(action: str, body: object, url: str) -> bytes:
    """The SOAP request of ``body`` (a message with ``to_element``), ready to post."""
    return Envelope(body=body.to_element(), action=action,  # type: ignore[attr-defined]
                    message_id=f"urn:uuid:{uuid.uuid4()}", to=url).to_bytes()


def query(client: httpx.Client, url: str, request: AdhocQueryRequest) -> tuple[float, int]:
    """Run one stored query; return (seconds, objects returned). A failed query raises: a
    benchmark of errors measures nothing."""
    return query_bytes(client, url, envelope(Action.STORED_QUERY, request, url))


def query_bytes(client: httpx.Client, url: str, body: bytes) -> tuple[float, int]:
    """``query`` of an already serialised request (see ``envelope``)."""
    envelope, elapsed = _post(client, url, Action.STORED_QUERY, body)
    if envelope.body.get("status") != ResponseStatus.SUCCESS:
        errors = AdhocQueryResponse.from_element(envelope.body).errors
        raise RuntimeError(f"stored query failed: {[(e.code, e.context) for e in errors]}")
    found = envelope.body.find(q(RIM, "RegistryObjectList"))
    return elapsed, 0 if found is None else len(found)


def register(client: httpx.Client, url: str, submission: SubmitObjectsRequest) -> None:
    """ITI-42 Register Document Set-b; raise unless the registry answers Success."""
    register_bytes(client, url, envelope(Action.REGISTER, submission, url))


def register_bytes(client: httpx.Client, url: str, body: bytes) -> None:
    """``register`` of an already serialised request (see ``envelope``)."""
    envelope, _ = _post(client, url, Action.REGISTER, body)
    answer = RegistryResponse.from_element(envelope.body)
    if answer.status != ResponseStatus.SUCCESS:
        raise RuntimeError(f"ITI-42 failed: {[(e.code, e.context) for e in answer.errors]}")

