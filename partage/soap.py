"""SOAP 1.2 over HTTP for the FastAPI services: one POST endpoint per service, dispatched on the
WS-Addressing Action, reading plain SOAP or MTOM/XOP, answering in kind.

Everything that goes wrong before a handler runs (oversize body, DTDs, malformed XML, unknown
action) becomes a SOAP fault; nothing reaches the handler half-parsed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import Request, Response
from lxml import etree
from starlette.concurrency import run_in_threadpool

from ihe import mtom
from ihe.errors import RemoteProtocolError, XmlSecurityError
from ihe.soap import Envelope, Fault
from ihe.soap.actions import RESPONSE_OF

log = logging.getLogger(__name__)

SOAP_CONTENT_TYPE = "application/soap+xml; charset=utf-8"


@dataclass
class SoapRequest:
    envelope: Envelope
    attachments: dict[str, bytes] = field(default_factory=dict)
    mtom: bool = False


@dataclass
class SoapReply:
    """A handler's answer: the body element, plus attachments (Content-ID → type, bytes) that
    force an MTOM response."""

    body: etree._Element
    attachments: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    mtom: bool | None = None


Handler = Callable[[SoapRequest], SoapReply]


class BodyTooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """Read the request body, refusing it as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def parse_request(content_type: str, body: bytes) -> SoapRequest:
    if mtom.is_multipart(content_type):
        message = mtom.decode(content_type, body)
        return SoapRequest(Envelope.from_bytes(message.root), message.parts, mtom=True)
    return SoapRequest(Envelope.from_bytes(body))


def render(envelope: Envelope, attachments: dict[str, tuple[str, bytes]], as_mtom: bool,
           status: int = 200) -> Response:
    root = envelope.to_bytes()
    if not as_mtom:
        return Response(root, status_code=status, media_type=SOAP_CONTENT_TYPE)
    content_type, body = mtom.encode(
        root, attachments, boundary=f"MIMEBoundary_{uuid.uuid4().hex}", action=envelope.action
    )
    return Response(body, status_code=status, headers={"content-type": content_type})


def fault_response(fault: Fault, relates_to: str | None = None) -> Response:
    status = 400 if fault.code in {"Sender", "VersionMismatch", "MustUnderstand"} else 500
    return render(fault.envelope(relates_to), {}, False, status)


def soap_endpoint(
    handlers: dict[str, Handler], max_body_bytes: Callable[[], int]
) -> Callable[[Request], Awaitable[Response]]:
    """Build a FastAPI endpoint that dispatches on wsa:Action to ``handlers`` (run in a
    thread: they use the database synchronously)."""

    async def endpoint(request: Request) -> Response:
        try:
            body = await read_body(request, max_body_bytes())
        except BodyTooLarge:
            return fault_response(Fault(f"request body exceeds {max_body_bytes()} bytes"))
        try:
            soap = parse_request(request.headers.get("content-type", ""), body)
        except XmlSecurityError as exc:
            log.warning("refused XML", extra={"reason": str(exc)})
            return fault_response(Fault(str(exc)))
        except RemoteProtocolError as exc:
            code = "VersionMismatch" if exc.code == "VersionMismatch" else "Sender"
            return fault_response(Fault(str(exc), code=code))
        action = soap.envelope.action
        handler = handlers.get(action or "")
        if handler is None:
            return fault_response(
                Fault(f"unsupported action {action!r}", subcode="wsa:ActionNotSupported"),
                soap.envelope.message_id,
            )
        try:
            reply = await run_in_threadpool(handler, soap)
        except RemoteProtocolError as exc:
            return fault_response(Fault(str(exc)), soap.envelope.message_id)
        envelope = Envelope(
            body=reply.body,
            action=RESPONSE_OF.get(action, action),  # type: ignore[call-overload]
            message_id=f"urn:uuid:{uuid.uuid4()}",
            relates_to=soap.envelope.message_id,
        )
        as_mtom = reply.mtom if reply.mtom is not None else (soap.mtom or bool(reply.attachments))
        return render(envelope, reply.attachments, as_mtom)

    return endpoint
