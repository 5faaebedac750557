"""Decode and encode MTOM/XOP ``multipart/related`` bodies.

Real senders vary (NIST ``PnrXop`` captures): LF-only line ends, no ``start=`` parameter (the
first part is then the root, RFC 2387 §3.2), URL-encoded ``cid:`` hrefs, quoted boundaries with
``+`` and ``=`` in them. The decoder accepts all of these; the encoder writes the strict form.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import unquote

from ihe.errors import RemoteProtocolError

_HEADER_END = re.compile(rb"\r?\n\r?\n")


@dataclass
class MtomMessage:
    """The root XML part and the other parts by Content-ID (without angle brackets)."""

    root: bytes
    parts: dict[str, bytes] = field(default_factory=dict)
    part_types: dict[str, str] = field(default_factory=dict)


def _params(content_type: str) -> tuple[str, dict[str, str]]:
    msg = Message()
    msg["content-type"] = content_type
    params = {k.lower(): v for k, v in msg.get_params(failobj=[])[1:]}
    return msg.get_content_type(), params


def is_multipart(content_type: str | None) -> bool:
    return bool(content_type) and _params(content_type)[0] == "multipart/related"


def _normalise_cid(value: str) -> str:
    return unquote(value.strip()).strip("<>")


def decode(content_type: str, body: bytes) -> MtomMessage:
    """Split a multipart/related body into its root and attachments."""
    mime, params = _params(content_type)
    if mime != "multipart/related":
        raise RemoteProtocolError(f"not multipart/related: {mime}")
    boundary = params.get("boundary")
    if not boundary:
        raise RemoteProtocolError("multipart/related without boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    pieces = re.split(rb"(?:^|\r?\n)" + re.escape(delimiter), body)
    # pieces[0] is the preamble; the last piece starts with "--" (close delimiter)
    parts: list[tuple[dict[str, str], bytes]] = []
    closed = False
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            closed = True
            break
        match = _HEADER_END.search(piece)
        if match is None:
            raise RemoteProtocolError("MIME part without header separator")
        raw_headers = piece[: match.start()].decode("latin-1")
        headers: dict[str, str] = {}
        for line in raw_headers.splitlines():
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        parts.append((headers, piece[match.end() :]))
    if not parts:
        raise RemoteProtocolError("multipart/related body has no parts")
    if not closed:
        raise RemoteProtocolError("multipart/related body is truncated (no close delimiter)")
    start = _normalise_cid(params["start"]) if params.get("start") else None
    root_index = 0
    if start is not None:
        ids = [_normalise_cid(h.get("content-id", "")) for h, _ in parts]
        if start not in ids:
            raise RemoteProtocolError(f"start part {start!r} not found")
        root_index = ids.index(start)
    message = MtomMessage(root=parts[root_index][1])
    for i, (headers, content) in enumerate(parts):
        if i == root_index:
            continue
        cid = _normalise_cid(headers.get("content-id", ""))
        if not cid:
            raise RemoteProtocolError("MIME attachment without Content-ID")
        if headers.get("content-transfer-encoding", "binary").lower() == "base64":
            content = base64.b64decode(content)
        message.parts[cid] = content
        message.part_types[cid] = headers.get("content-type", "application/octet-stream")
    return message


def encode(
    root: bytes,
    parts: dict[str, tuple[str, bytes]],
    *,
    boundary: str,
    action: str | None = None,
    root_cid: str = "root.message@partage",
) -> tuple[str, bytes]:
    """Build an MTOM body. ``parts`` maps Content-ID to (content type, bytes); the caller
    passes the boundary (no randomness here). Returns (Content-Type header, body)."""
    content_type = (
        f'multipart/related; type="application/xop+xml"; boundary="{boundary}"; '
        f'start="<{root_cid}>"; start-info="application/soap+xml"'
    )
    if action:
        content_type += f'; action="{action}"'
    out = [
        f"--{boundary}\r\n".encode(),
        b'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n',
        b"Content-Transfer-Encoding: binary\r\n",
        f"Content-ID: <{root_cid}>\r\n\r\n".encode(),
        root,
    ]
    for cid, (ctype, data) in parts.items():
        out += [
            f"\r\n--{boundary}\r\n".encode(),
            f"Content-Type: {ctype}\r\n".encode(),
            b"Content-Transfer-Encoding: binary\r\n",
            f"Content-ID: <{cid}>\r\n\r\n".encode(),
            data,
        ]
    out.append(f"\r\n--{boundary}--\r\n".encode())
    return content_type, b"".join(out)
