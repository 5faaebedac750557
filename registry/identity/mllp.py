"""MLLP listener for the ADT feed (HL7 MLLP release 2: ``0x0b`` message ``0x1c 0x0d``).

``FrameReader`` is the framing with no I/O; ``MllpServer`` is a threaded TCP server that gives
each complete frame to a handler and writes back the one acknowledgement it returns. A frame
that grows past the size bound is answered AR and the connection closed; bytes outside frames
are dropped; idle connections time out.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections.abc import Callable

from registry.api.deps import RegistryContext
from registry.identity.feed import SENDER, AdtFeed, decode
from registry.identity.hl7 import AckCode, ErrorCode, Hl7Error, build_ack, read_header

log = logging.getLogger(__name__)

START = b"\x0b"
END = b"\x1c\x0d"
#: seconds a connection may stay silent before it is closed
IDLE_TIMEOUT = 300.0
#: simultaneous connections; more wait in the listen backlog
MAX_CONNECTIONS = 32


class FrameTooLarge(Exception):
    """A frame passed the size bound; ``head`` is its beginning, to address the refusal."""

    def __init__(self, head: bytes) -> None:
        super().__init__("MLLP frame too large")
        self.head = head


class FrameReader:
    """Turns received bytes into complete MLLP frame payloads."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._buffer = bytearray()
        self._in_frame = False
        self.dropped = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the payloads of the frames they completed.

        Raises ``FrameTooLarge`` once an unfinished frame exceeds ``max_bytes``.
        """
        frames: list[bytes] = []
        pending = bytes(data)
        while pending:
            if not self._in_frame:
                start = pending.find(START)
                if start < 0:
                    self.dropped += len(pending)
                    break
                self.dropped += start
                pending = pending[start + 1 :]
                self._in_frame = True
                continue
            scanned = max(0, len(self._buffer) - len(END) + 1)
            self._buffer += pending
            pending = b""
            end = self._buffer.find(END, scanned)
            if end > self.max_bytes or (end < 0 and len(self._buffer) > self.max_bytes):
                head = bytes(self._buffer[:4096])
                self._buffer.clear()
                self._in_frame = False
                raise FrameTooLarge(head)
            if end >= 0:
                frames.append(bytes(self._buffer[:end]))
                pending = bytes(self._buffer[end + len(END) :])
                self._buffer.clear()
                self._in_frame = False
        return frames


def frame(payload: bytes) -> bytes:
    return START + payload + END


class MllpServer:
    """A threaded MLLP listener on ``host:port`` (port 0: any free port, see ``port``)."""

    def __init__(
        self,
        handler: Callable[[bytes], bytes],
        host: str = "127.0.0.1",
        port: int = 0,
        max_bytes: int = 1024 * 1024,
        refusal: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.handler = handler
        self.max_bytes = max_bytes
        self.refusal = refusal
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._server = _ThreadingServer((host, port), self._connection_class())
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"mllp-{self.port}", daemon=True
        )

    def start(self) -> MllpServer:
        self._thread.start()
        log.info("MLLP listener started", extra={"port": self.port})
        return self

    def stop(self) -> None:
        """Stop accepting, close open connections, release the port."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for sock in list(self._open):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join(timeout=5)

    def _connection_class(self) -> type[socketserver.BaseRequestHandler]:
        server = self

        class Connection(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with server._slots:
                    server._serve(self.request)

        return Connection

    def _serve(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)
        sock.settimeout(IDLE_TIMEOUT)
        reader = FrameReader(self.max_bytes)
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                try:
                    payloads = reader.feed(data)
                except FrameTooLarge as exc:
                    log.warning("MLLP frame too large", extra={"limit": self.max_bytes})
                    if self.refusal is not None:
                        sock.sendall(frame(self.refusal(exc.head)))
                    return
                for payload in payloads:
                    sock.sendall(frame(self.handler(payload)))
        except (TimeoutError, OSError):
            return
        finally:
            if reader.dropped:
                log.warning("bytes outside MLLP frames dropped", extra={"bytes": reader.dropped})
            with self._lock:
                self._open.discard(sock)


class _ThreadingServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 64


def start_mllp(ctx: RegistryContext) -> MllpServer:
    """Start the registry's ADT listener on ``settings.host:settings.mllp_port``."""
    settings = ctx.settings
    feed = AdtFeed(ctx.db, settings.regional_authority)

    def too_large(head: bytes) -> bytes:
        text, codec = decode(head)
        error = Hl7Error(
            AckCode.REJECT,
            ErrorCode.SEGMENT_SEQUENCE,
            f"message larger than {settings.mllp_max_message_bytes} bytes",
        )
        ack = build_ack(
            read_header(text),
            AckCode.REJECT,
            error=error,
            sender=SENDER,
            control_id=feed.new_control_id(),
            now=feed.clock(),
        )
        return ack.encode(codec, errors="replace")

    return MllpServer(
        feed.handle,
        host=settings.host,
        port=settings.mllp_port,
        max_bytes=settings.mllp_max_message_bytes,
        refusal=too_large,
    ).start()
