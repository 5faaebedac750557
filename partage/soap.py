"""SOAP 1.2 over HTTP for the FastAPI services: one POST endpoint per service, dispatched on the
WS-Addressing Action, reading plain SOAP or MTOM/XOP, answering in kind.

Everything that goes wrong before a handler runs (oversize body, DTDs, malformed XML, unknown
action) becomes a SOAP fault; nothing reaches the handler half-parsed.

An action may require a bearer token (IHE IUA): its entry in the handler table is a
``BearerAction``, whose handler also receives the validated ``Principal``. A request for it
without a valid token gets HTTP 401 with ``WWW-Authenticate: Bearer …`` (RFC 6750 §3) and a
SOAP 1.2 Sender fault, 503 and a Receiver fault when the issuer's keys cannot be read; the
handler does not run. Other actions of the same endpoint are unchanged.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from fastapi import Request, Response
from lxml import etree
from starlette.concurrency import run_in_threadpool

from ihe import mtom
from ihe.errors import RemoteProtocolError, XmlSecurityError
from ihe.soap import Envelope, Fault
from ihe.soap.actions import RESPONSE_OF
from partage.auth import Principal, Refusal, TokenValidator, authenticate

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
    force an MTOM response.

    ``splice`` is ``(element, content)``: ``element`` an empty element of ``body`` whose content
    is given already serialised (UTF-8, well-formed, using only namespace prefixes declared
    in scope at ``element``). It is written in place when the envelope is serialised, so a
    large answer made of stored XML is not rebuilt as elements first.
    """

    body: etree._Element
    attachments: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    mtom: bool | None = None
    splice: tuple[etree._Element, bytes] | None = None

    def body_element(self) -> etree._Element:
        """The body as sent, spliced content included (parsed back: for in-process callers
        such as tests; the endpoint writes the bytes without this step)."""
        if self.splice is None or not self.splice[1]:
            return self.body
        return Envelope.from_bytes(envelope_bytes(Envelope(body=self.body), self.splice)).body


def envelope_bytes(envelope: Envelope, splice: tuple[etree._Element, bytes] | None) -> bytes:
    """``envelope.to_bytes()`` with the spliced content (``SoapReply.splice``) in place."""
    if splice is None or not splice[1]:
        return envelope.to_bytes()
    element, content = splice
    if len(element) or element.text:
        raise ValueError("only an empty element takes spliced content")
    marker = f"partage-splice-{uuid.uuid4().hex}"
    element.text = marker
    try:
        root = envelope.to_bytes()
    finally:
        element.text = None
    head, found, tail = root.partition(marker.encode("ascii"))
    if not found:
        raise ValueError("the spliced element is not in the envelope")
    return b"".join((head, content, tail))


Handler = Callable[[SoapRequest], SoapReply]
#: the handler of an action that requires a bearer token: it also gets the caller
AuthenticatedHandler = Callable[[SoapRequest, Principal], SoapReply]


@dataclass(frozen=True)
class BearerAction:
    """An entry of ``soap_endpoint``'s handler table for an action answered only to callers
    with a bearer token ``tokens`` accepts; ``handler`` receives the validated caller."""

    handler: AuthenticatedHandler
    tokens: TokenValidator


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
           status: int = 200, splice: tuple[etree._Element, bytes] | None = None) -> Response:
    root = envelope_bytes(envelope, splice)
    if not as_mtom:
        return Response(root, status_code=status, media_type=SOAP_CONTENT_TYPE)
    content_type, body = mtom.encode(
        root, attachments, boundary=f"MIMEBoundary_{uuid.uuid4().hex}", action=envelope.action
    )
    return Response(body, status_code=status, headers={"content-type": content_type})


def fault_response(fault: Fault, relates_to: str | None = None, *, status: int | None = None,
                   headers: dict[str, str] | None = None) -> Response:
    """The fault as a SOAP 1.2 answer: 400 for the sender's faults, 500 for ours, unless
    ``status`` says otherwise (401 for a refused token)."""
    if status is None:
        status = 400 if fault.code in {"Sender", "VersionMismatch", "MustUnderstand"} else 500
    response = render(fault.envelope(relates_to), {}, False, status)
    response.headers.update(headers or {})
    return response


def refusal_response(refusal: Refusal, relates_to: str | None = None) -> Response:
    """A refused bearer token as HTTP 401/503 with its challenge and a SOAP fault body."""
    code = "Sender" if refusal.status < 500 else "Receiver"
    return fault_response(Fault(refusal.reason, code=code), relates_to,
                          status=refusal.status, headers=refusal.headers)


def _authenticated(action: BearerAction, request: SoapRequest, authorization: str | None
                   ) -> SoapReply:
    """The caller's token checked, then the action answered; ``Refusal`` before the handler
    runs. One worker thread for both: the JWKS fetch and the handler block."""
    return action.handler(request, authenticate(action.tokens, authorization))


def soap_endpoint(
    handlers: dict[str, Handler | BearerAction], max_body_bytes: Callable[[], int]
) -> Callable[[Request], Awaitable[Response]]:
    """Build a FastAPI endpoint that dispatches on wsa:Action to ``handlers`` (run in a
    thread: they use the database synchronously). A ``BearerAction`` is answered only once
    the request's bearer token is accepted."""

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
        if isinstance(handler, BearerAction):
            call = partial(_authenticated, handler, soap, request.headers.get("authorization"))
        else:
            call = partial(handler, soap)
        try:
            reply = await run_in_threadpool(call)
        except Refusal as refusal:
            log.info("bearer token refused", extra={"action": action, "reason": refusal.reason})
            return refusal_response(refusal, soap.envelope.message_id)
        except RemoteProtocolError as exc:
            return fault_response(Fault(str(exc)), soap.envelope.message_id)
        envelope = Envelope(
            body=reply.body,
            action=RESPONSE_OF.get(action, action),  # type: ignore[call-overload]
            message_id=f"urn:uuid:{uuid.uuid4()}",
            relates_to=soap.envelope.message_id,
        )
        as_mtom = reply.mtom if reply.mtom is not None else (soap.mtom or bool(reply.attachments))
        return render(envelope, reply.attachments, as_mtom, splice=reply.splice)

    return endpoint
