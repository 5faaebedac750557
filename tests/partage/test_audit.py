"""The audit trail over real sockets: RFC 5424 over UDP and TLS, HTTP, the durable queue.

A destination that is down never slows ``record``; what it missed is delivered once it comes
back, in order and once; undelivered messages survive a restart."""

from __future__ import annotations

import datetime as dt
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import ihe.atna as atna
from partage.audit import (
    BOM,
    AuditTrail,
    HttpDestination,
    TlsSyslog,
    UdpSyslog,
    SyslogOrigin,
    destinations_from,
    requestor,
    syslog_frame,
)
from partage.auth import Principal
from partage.serve import free_port
from partage.settings import ServiceSettings
from tests.support.certs import self_signed

WHEN = dt.datetime(2026, 11, 27, 20, 5, 1, 250000, tzinfo=dt.UTC)
USER = atna.ActiveParticipant("dr-martin", True, "Dr Martin", "10001234567")
SOURCE = atna.AuditSource("gateway-a", "1.2.250.1.999.1")
SYSLOG = SyslogOrigin("host-a", "gateway")
HEADER = re.compile(rb"^<85>1 (\S+) host-a gateway (\d+) IHE\+RFC-3881 - \xef\xbb\xbf")


def message(n: int) -> atna.AuditMessage:
    return atna.access(event=atna.EventID.EXPORT, transaction=atna.enum.RAD_69, when=WHEN,
                       user=USER, source=SOURCE, patient_id=f"P{n}^^^&1.2.250.1.213.1.4.10&ISO",
                       study_uids=(f"1.2.3.{n}",))


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def parse_frame(frame: bytes) -> atna.AuditMessage:
    match = HEADER.match(frame)
    assert match, frame[:120]
    assert match.group(1) == b"2026-11-27T20:05:01.250Z"
    return atna.AuditMessage.from_bytes(frame[match.end():])


def test_rfc5424_header() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    frame = syslog_frame(b"<AuditMessage/>", when=WHEN.astimezone(paris),
                         hostname="h ost", app_name="", procid="42")
    assert frame == (b"<85>1 2026-11-27T20:05:01.250Z host - 42 IHE+RFC-3881 - "
                     + BOM + b"<AuditMessage/>")


def test_udp_delivery(tmp_path: Path) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(10)
    port = receiver.getsockname()[1]
    udp = UdpSyslog("127.0.0.1", port, SYSLOG)
    with receiver, AuditTrail(tmp_path / "q.sqlite", [udp]) as trail:
        for n in range(3):
            trail.record(message(n), when=WHEN)
        got = [parse_frame(receiver.recv(65535)) for _ in range(3)]
        wait_for(lambda: trail.pending() == 0)
    assert got == [message(n) for n in range(3)]


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A throwaway self-signed certificate for 127.0.0.1: (server context, client context)."""
    cert, key = self_signed(tmp_path_factory.mktemp("tls"))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    return server, ssl.create_default_context(cafile=str(cert))


def read_octet_counted(stream: ssl.SSLSocket) -> bytes:
    """One RFC 5425 frame: MSG-LEN SP SYSLOG-MSG."""
    length = b""
    while (byte := stream.recv(1)) != b" ":
        assert byte.isdigit(), byte
        length += byte
    body = b""
    while len(body) < int(length):
        body += stream.recv(int(length) - len(body))
    return body


def test_tls_delivery(tmp_path: Path, tls_pair: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = tls_pair
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    frames: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as tls:
            frames.extend(read_octet_counted(tls) for _ in range(3))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with listener, AuditTrail(tmp_path / "q.sqlite",
                              [TlsSyslog("127.0.0.1", port, SYSLOG, client_ctx)]) as trail:
        for n in range(3):
            trail.record(message(n), when=WHEN)
        thread.join(10)
        wait_for(lambda: trail.pending() == 0)
    assert [parse_frame(f) for f in frames] == [message(n) for n in range(3)]


def test_tls_refuses_an_unknown_certificate(
        tmp_path: Path, tls_pair: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    """A receiver whose certificate the CA file does not vouch for gets nothing; kept queued."""
    server_ctx, _ = tls_pair
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, pytest.raises(ssl.SSLError):
            server_ctx.wrap_socket(conn, server_side=True).recv(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with listener, AuditTrail(tmp_path / "q.sqlite", [TlsSyslog(
            "127.0.0.1", port, SYSLOG, ssl.create_default_context())]) as trail:
        trail.record(message(0))
        thread.join(10)
        assert trail.pending() == 1


class CollectorServer(ThreadingHTTPServer):
    """An audit repository stand-in over real HTTP: keeps what it is posted, answers ``status``."""

    def __init__(self, port: int, status: int) -> None:
        super().__init__(("127.0.0.1", port), Collector)
        self.received: list[tuple[bytes, str]] = []
        self.status = status


class Collector(BaseHTTPRequestHandler):
    server: CollectorServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((body, self.headers.get("Authorization", "")))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def collector_port() -> int:
    return free_port()


def collector(port: int, status: int = 201) -> Iterator[CollectorServer]:
    server = CollectorServer(port, status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_dead_destination_never_blocks_and_catches_up_exactly_once(
        tmp_path: Path, tls_pair: tuple[ssl.SSLContext, ssl.SSLContext],
        collector_port: int) -> None:
    # a TCP peer that accepts nothing: the TLS handshake hangs until its timeout
    silent = socket.create_server(("127.0.0.1", 0))
    hung = TlsSyslog("127.0.0.1", silent.getsockname()[1], SYSLOG, tls_pair[1], timeout=3)
    http = HttpDestination(f"http://127.0.0.1:{collector_port}/audit", token=lambda: "t0k")
    with silent, AuditTrail(tmp_path / "q.sqlite", [hung, http], backoff_s=0.05,
                            backoff_max_s=0.2) as trail:
        started = time.perf_counter()
        for n in range(50):
            trail.record(message(n))
        assert time.perf_counter() - started < 1.0  # 50 records, both destinations down
        time.sleep(0.5)  # several failed attempts at the HTTP destination
        assert trail.pending() == 100
        for server in collector(collector_port):
            wait_for(lambda: len(server.received) == 50)
            time.sleep(0.3)  # nothing more arrives
            assert [atna.AuditMessage.from_bytes(b) for b, _ in server.received] == [
                message(n) for n in range(50)]
            assert {auth for _, auth in server.received} == {"Bearer t0k"}
        assert trail.pending() == 50  # the silent TLS peer's share, still queued


def test_queue_survives_a_restart(tmp_path: Path, collector_port: int) -> None:
    url = f"http://127.0.0.1:{collector_port}/audit"
    with AuditTrail(tmp_path / "q.sqlite", [HttpDestination(url)], backoff_s=0.05) as trail:
        trail.record(message(1))
        trail.record(message(2))
        time.sleep(0.2)
    assert trail.pending() == 2
    for server in collector(collector_port):
        with AuditTrail(tmp_path / "q.sqlite", [HttpDestination(url)]) as again:
            wait_for(lambda: again.pending() == 0)
        assert [atna.AuditMessage.from_bytes(b) for b, _ in server.received] == [
            message(1), message(2)]


def test_refused_message_is_set_aside_not_retried(tmp_path: Path, collector_port: int) -> None:
    for server in collector(collector_port, status=400):
        with AuditTrail(tmp_path / "q.sqlite", [HttpDestination(
                f"http://127.0.0.1:{collector_port}/audit")]) as trail:
            trail.record(b"<AuditMessage/>")
            trail.record(message(1))
            wait_for(lambda: trail.pending() == 0)
            time.sleep(0.2)
        assert len(server.received) == 2


def test_destinations_from_settings(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path, audit_url="http://127.0.0.1:1/audit",
                               audit_syslog="udp://127.0.0.1:514, tls://audit.example:6514")
    names = [d.name for d in destinations_from(settings, "registry")]
    assert names == ["udp://127.0.0.1:514", "tls://audit.example:6514", "http://127.0.0.1:1/audit"]
    with pytest.raises(ValueError, match="udp://host:port"):
        destinations_from(ServiceSettings(audit_syslog="tcp://x:1"), "registry")
    trail = AuditTrail.from_settings(ServiceSettings(data_dir=tmp_path), "registry")
    trail.record(message(0))  # no destination configured: nothing queued
    assert trail.pending() == 0


def test_requestor_from_a_token_holder() -> None:
    principal = Principal("dr-martin", frozenset({"radiologist", "physician"}), "10001234567",
                          "CHU Nord", "TREAT", "Dr Martin")
    participant = requestor(principal, "10.0.0.7")
    assert participant == atna.ActiveParticipant(
        "dr-martin", True, "Dr Martin", "10001234567",
        (("physician", atna.enum.USER_ROLE_SYSTEM, "physician"),
         ("radiologist", atna.enum.USER_ROLE_SYSTEM, "radiologist")),
        "10.0.0.7", organisation="CHU Nord")


def test_concurrent_callers_each_delivered_once(tmp_path: Path, collector_port: int) -> None:
    """Request threads record at once; every message arrives exactly once."""
    for server in collector(collector_port):
        with AuditTrail(tmp_path / "q.sqlite", [HttpDestination(
                f"http://127.0.0.1:{collector_port}/audit")]) as trail:
            def caller(base: int) -> None:
                for n in range(25):
                    trail.record(message(base + n))
            threads = [threading.Thread(target=caller, args=(100 * t,)) for t in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wait_for(lambda: trail.pending() == 0)
        got = sorted(atna.AuditMessage.from_bytes(b).objects[1].object_id
                     for b, _ in server.received)
        assert got == sorted(f"1.2.3.{100 * t + n}" for t in range(8) for n in range(25))
