"""The ITI-20 syslog receiver: RFC 5426 over UDP and RFC 5425 (octet counting) over TLS.

Each RFC 5424 message's MSG is the audit XML; it is stored through ``ingest`` off the event
loop. A malformed message is logged and dropped (syslog has no way to answer); a TLS peer that
breaks the framing is disconnected."""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import Callable

from consent.audit.ingest import MAX_BYTES, ingest
from consent.core.config import ConsentSettings
from partage.audit import BOM
from partage.db import Database

log = logging.getLogger("consent.audit.syslog")

#: ``<PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP`` (RFC 5424 §6)
_HEADER = re.compile(rb"<\d{1,3}>1 \S+ \S+ \S+ \S+ \S+ ")


class SyslogError(ValueError):
    """Not an RFC 5424 message."""


def message_body(frame: bytes) -> bytes:
    """The MSG of an RFC 5424 message, without its BOM: skips the header and STRUCTURED-DATA
    (``-`` or ``[…]`` elements, whose values may hold escaped ``]`` and spaces)."""
    header = _HEADER.match(frame)
    if header is None:
        raise SyslogError("not an RFC 5424 syslog message")
    i = header.end()
    if frame[i:i + 1] == b"-":
        i += 1
    else:
        while frame[i:i + 1] == b"[":
            i += 1
            quoted = False
            while i < len(frame) and (quoted or frame[i:i + 1] != b"]"):
                if frame[i:i + 1] == b"\\":
                    i += 1
                elif frame[i:i + 1] == b'"':
                    quoted = not quoted
                i += 1
            if i >= len(frame):
                raise SyslogError("unterminated STRUCTURED-DATA")
            i += 1
    body = frame[i + 1:] if frame[i:i + 1] == b" " else frame[i:]
    return body.removeprefix(BOM)


Store = Callable[[bytes, str], None]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, handle: Callable[[bytes, str], asyncio.Future[None]]) -> None:
        self._handle = handle

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._handle(data, "udp")


class SyslogReceiver:
    """UDP and TLS listeners feeding ``store(xml, transport)`` (run in a worker thread)."""

    def __init__(self, store: Store, max_bytes: int) -> None:
        self._store, self._max = store, max_bytes
        self._closers: list[Callable[[], object]] = []
        self._tasks: set[asyncio.Future[None]] = set()
        self.udp_port = self.tls_port = 0

    def _handle(self, frame: bytes, transport: str) -> asyncio.Future[None]:
        task = asyncio.ensure_future(self._ingest(frame, transport))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _ingest(self, frame: bytes, transport: str) -> None:
        try:
            await asyncio.to_thread(self._store, message_body(frame), transport)
        except Exception as exc:  # noqa: BLE001 - one bad message must not stop the listener
            log.warning("audit message over %s refused: %s", transport, exc)

    async def start_udp(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(self._handle),
                                                           local_addr=(host, port))
        self._closers.append(transport.close)
        self.udp_port = transport.get_extra_info("sockname")[1]

    async def start_tls(self, host: str, port: int, context: ssl.SSLContext) -> None:
        server = await asyncio.start_server(self._serve_tls, host, port, ssl=context)
        self._closers.append(server.close)
        self.tls_port = server.sockets[0].getsockname()[1]

    async def _serve_tls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                length = (await reader.readuntil(b" "))[:-1]
                if not length.isdigit() or int(length) > self._max:
                    log.warning("TLS syslog peer broke the RFC 5425 framing; disconnecting")
                    return
                await self._handle(await reader.readexactly(int(length)), "tls")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                ssl.SSLError):
            return
        finally:
            writer.close()

    async def stop(self) -> None:
        for close in self._closers:
            close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def start_receiver(settings: ConsentSettings, db: Database) -> SyslogReceiver:
    """The listeners the settings ask for (none when neither port is set)."""
    def store(xml: bytes, transport: str) -> None:
        with db.session() as session:
            ingest(session, xml, transport=transport)

    receiver = SyslogReceiver(store, MAX_BYTES)
    if settings.audit_udp_port is not None:
        await receiver.start_udp(settings.host, settings.audit_udp_port)
    if settings.audit_tls_port is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(settings.audit_tls_cert_file, settings.audit_tls_key_file)
        await receiver.start_tls(settings.host, settings.audit_tls_port, context)
    return receiver
