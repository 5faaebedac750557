"""ATNA audit trail of a service (ITI-20 Record Audit Event): never lost, never blocking care.

``AuditTrail.record()`` writes the message to a durable queue (an SQLite file in the service's
data folder, one row per destination) and returns: no network on the caller's thread. A
background sender delivers each row to its destination — syslog over UDP (RFC 5426) or TLS
(RFC 5425 octet counting), or HTTP POST to the audit record repository — and deletes it only
once delivered. A destination that fails is retried with exponential backoff, in order; rows
survive a restart of the service. The repository stores by content hash, so a row re-sent after
a lost acknowledgement is kept once.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from ihe import atna
from ihe.atna import ActiveParticipant, AuditMessage, AuditSource, EventID, EventOutcomeIndicator
from ihe.atna.enum import USER_ROLE_SYSTEM, Code
from ihe.ebrim import ExtrinsicObject, RegistryPackage, SubmitObjectsRequest
from ihe.ebrim.enum import REFERENCE_ID_SLOT, REFERENCE_ID_STUDY_INSTANCE_UID, Scheme
from partage.auth import Principal
from partage.settings import ServiceSettings

log = logging.getLogger("partage.audit")

#: RFC 5424 PRI of ITI-20 messages: facility 10 (security/authorization), severity 5 (notice).
PRI = 10 * 8 + 5
#: ITI TF-2 §3.20.4.1.2: MSGID of a DICOM audit message.
MSGID = "IHE+RFC-3881"
#: RFC 5426 §3.2: the largest UDP payload over IPv4.
UDP_MAX = 65507
BOM = b"\xef\xbb\xbf"


def requestor(principal: Principal, address: str = "") -> ActiveParticipant:
    """The token holder as the requesting ActiveParticipant: subject, name, RPPS,
    organisation, roles; ``address`` is the client's IP address as the service saw it."""
    return ActiveParticipant(
        principal.subject, True, principal.name, principal.rpps,
        tuple((role, USER_ROLE_SYSTEM, role) for role in sorted(principal.roles)),
        address, organisation=principal.organisation)


def submission(*, event: EventID, transaction: Code, when: datetime, principal: Principal,
               source: AuditSource, request: SubmitObjectsRequest,
               outcome: EventOutcomeIndicator) -> AuditMessage | None:
    """The audit of an XDS submission (ITI-41 at the repository, ITI-42 at the registry):
    its patient, the studies its entries reference and the entries' uniqueIds (the
    SubmissionSet's when it has none); ``None`` when it names no patient (nothing to audit
    about anyone)."""
    entries = [o for o in request.objects if isinstance(o, ExtrinsicObject)]
    sets = [o for o in request.objects if isinstance(o, RegistryPackage) and o.is_submission_set]
    patient = next((e.patient_id for e in entries if e.patient_id), None) or next(
        (p for s in sets if (p := s.external_id(Scheme.SS_PATIENT_ID))), "")
    suffix = f"^^^^{REFERENCE_ID_STUDY_INSTANCE_UID}"
    studies = tuple(dict.fromkeys(
        ref[: -len(suffix)] for e in entries for ref in e.slot_values(REFERENCE_ID_SLOT)
        if ref.endswith(suffix)))
    documents = tuple(filter(None, (e.unique_id for e in entries))) or tuple(
        filter(None, (s.external_id(Scheme.SS_UNIQUE_ID) for s in sets)))
    if not patient or not (studies or documents):
        return None
    return atna.access(event=event, transaction=transaction, when=when,
                       user=requestor(principal), source=source, patient_id=patient,
                       study_uids=studies, document_ids=documents,
                       purpose_of_use=principal.purpose, outcome=outcome)


class PermanentFailure(Exception):
    """This message can never be delivered to this destination (e.g. refused as malformed)."""


def syslog_frame(xml: bytes, *, when: datetime, hostname: str, app_name: str,
                 procid: str) -> bytes:
    """One RFC 5424 message: ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - BOM XML``."""
    def field(value: str, limit: int) -> str:
        cleaned = "".join(c for c in value if 33 <= ord(c) <= 126)[:limit]
        return cleaned or "-"
    stamp = when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    header = (f"<{PRI}>1 {stamp} {field(hostname, 255)} {field(app_name, 48)} "
              f"{field(procid, 128)} {MSGID} - ")
    return header.encode("ascii") + BOM + xml


class Destination(Protocol):
    """Where audit messages go; ``send`` raises on failure, ``close`` drops any connection."""

    name: str

    def send(self, xml: bytes, when: datetime) -> None: ...

    def close(self) -> None: ...


@dataclass
class SyslogOrigin:
    """HOSTNAME and APP-NAME of this service's syslog headers (PROCID is its process)."""

    hostname: str
    app_name: str

    def frame(self, xml: bytes, when: datetime) -> bytes:
        return syslog_frame(xml, when=when, hostname=self.hostname, app_name=self.app_name,
                            procid=str(os.getpid()))


class _SyslogSocket:
    """A syslog destination's socket, opened on first send and dropped after a failure so
    the next attempt reconnects."""

    _sock: socket.socket | None = None

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class UdpSyslog(_SyslogSocket):
    """RFC 5426: one syslog message per datagram. Loss in transit is UDP's; a connected
    socket at least reports an ICMP port-unreachable on the next send, which is retried."""

    def __init__(self, host: str, port: int, syslog: SyslogOrigin) -> None:
        self.name, self._addr, self._syslog = f"udp://{host}:{port}", (host, port), syslog

    def send(self, xml: bytes, when: datetime) -> None:
        frame = self._syslog.frame(xml, when)
        if len(frame) > UDP_MAX:
            raise PermanentFailure(f"{len(frame)} bytes do not fit a UDP datagram (RFC 5426)")
        if self._sock is None:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._sock.connect(self._addr)
        try:
            self._sock.send(frame)
        except OSError:
            self.close()
            raise


class TlsSyslog(_SyslogSocket):
    """RFC 5425: ``MSG-LEN SP SYSLOG-MSG`` over one kept-open TLS connection."""

    def __init__(self, host: str, port: int, syslog: SyslogOrigin, context: ssl.SSLContext,
                 timeout: float = 5.0) -> None:
        self.name, self._host, self._port = f"tls://{host}:{port}", host, port
        self._syslog, self._context, self._timeout = syslog, context, timeout

    def send(self, xml: bytes, when: datetime) -> None:
        frame = self._syslog.frame(xml, when)
        try:
            if self._sock is None:
                raw = socket.create_connection((self._host, self._port), timeout=self._timeout)
                self._sock = self._context.wrap_socket(raw, server_hostname=self._host)
            self._sock.sendall(b"%d " % len(frame) + frame)
        except OSError:
            self.close()
            raise


class HttpDestination:
    """``POST`` the XML to the audit record repository with the service's bearer token."""

    def __init__(self, url: str, token: Callable[[], str] | None = None,
                 timeout: float = 10.0) -> None:
        self.name, self._url, self._token = url, url, token
        self._client = httpx.Client(timeout=timeout)

    def send(self, xml: bytes, when: datetime) -> None:
        headers = {"Content-Type": "application/xml"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token()}"
        answer = self._client.post(self._url, content=xml, headers=headers)
        if answer.status_code in (400, 413, 415, 422):
            raise PermanentFailure(f"{self._url} refused the message: {answer.status_code}")
        answer.raise_for_status()

    def close(self) -> None:
        self._client.close()


def destinations_from(settings: ServiceSettings, app_name: str,
                      token: Callable[[], str] | None = None) -> list[Destination]:
    """The destinations a service's settings name (``audit_url``, ``audit_syslog``)."""
    syslog = SyslogOrigin(socket.gethostname(), app_name)
    found: list[Destination] = []
    for spec in filter(None, (s.strip() for s in settings.audit_syslog.split(","))):
        parts = urlsplit(spec)
        if parts.scheme not in ("udp", "tls") or not parts.hostname or not parts.port:
            raise ValueError(f"audit_syslog wants udp://host:port or tls://host:port: {spec!r}")
        if parts.scheme == "udp":
            found.append(UdpSyslog(parts.hostname, parts.port, syslog))
        else:
            context = ssl.create_default_context(cafile=settings.audit_ca_file or None)
            found.append(TlsSyslog(parts.hostname, parts.port, syslog, context))
    if settings.audit_url:
        found.append(HttpDestination(settings.audit_url, token))
    return found


_SCHEMA = """CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT, destination TEXT NOT NULL, created TEXT NOT NULL,
    xml BLOB NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, dead INTEGER NOT NULL DEFAULT 0)"""


class AuditTrail:
    """A service's audit trail: ``record`` enqueues durably and returns; ``start`` runs the
    sender thread; ``stop`` ends it, leaving undelivered rows for the next start."""

    def __init__(self, queue_file: Path, destinations: Sequence[Destination], *,
                 backoff_s: float = 0.5, backoff_max_s: float = 60.0) -> None:
        queue_file.parent.mkdir(parents=True, exist_ok=True)
        self._file, self._destinations = queue_file, {d.name: d for d in destinations}
        self._backoff, self._backoff_max = backoff_s, backoff_max_s
        self._local = threading.local()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        with self._db() as db:
            db.execute(_SCHEMA)
            for name, count in db.execute("SELECT destination, count(*) FROM pending "
                                          "WHERE dead = 0 GROUP BY destination"):
                if name not in self._destinations:
                    log.error("%d audit messages queued for %s, no longer configured: kept in %s",
                              count, name, queue_file)

    @classmethod
    def from_settings(cls, settings: ServiceSettings, app_name: str,
                      token: Callable[[], str] | None = None) -> AuditTrail:
        return cls(settings.data_dir / f"audit-queue-{app_name}.sqlite",
                   destinations_from(settings, app_name, token))

    def _db(self) -> sqlite3.Connection:
        """One connection per thread (WAL: the caller's inserts never wait for a delivery)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._file, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
        return db

    def record(self, message: AuditMessage | bytes, when: datetime | None = None) -> None:
        """Queue ``message`` for every destination and return at once (no network here)."""
        if not self._destinations:
            return
        xml = message.to_bytes() if isinstance(message, AuditMessage) else message
        created = (when or datetime.now(UTC)).isoformat()
        with self._db() as db:
            db.executemany("INSERT INTO pending (destination, created, xml) VALUES (?, ?, ?)",
                           [(name, created, xml) for name in self._destinations])
        self._wake.set()

    def pending(self) -> int:
        """Rows still to deliver (dead rows excluded)."""
        return int(self._db().execute("SELECT count(*) FROM pending WHERE dead = 0").fetchone()[0])

    def start(self) -> AuditTrail:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="audit-sender", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for destination in self._destinations.values():
            destination.close()

    def __enter__(self) -> AuditTrail:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- the sender thread ---------------------------------------------------------------------
    def _run(self) -> None:
        retry_at = dict.fromkeys(self._destinations, 0.0)
        failures = dict.fromkeys(self._destinations, 0)
        while not self._stopping.is_set():
            self._wake.clear()
            for name, destination in self._destinations.items():
                if time.monotonic() >= retry_at[name]:
                    if self._drain(destination):
                        failures[name] = 0
                    else:
                        failures[name] += 1
                        delay = min(self._backoff_max, self._backoff * 2 ** (failures[name] - 1))
                        retry_at[name] = time.monotonic() + delay
            due = [t - time.monotonic() for t in retry_at.values() if t > time.monotonic()]
            self._wake.wait(min(due) if due else None)

    def _drain(self, destination: Destination) -> bool:
        """Send this destination's rows in order; False at the first that fails."""
        db = self._db()
        while not self._stopping.is_set():
            row = db.execute("SELECT id, created, xml FROM pending WHERE destination = ? "
                             "AND dead = 0 ORDER BY id LIMIT 1", (destination.name,)).fetchone()
            if row is None:
                return True
            row_id, created, xml = row
            try:
                destination.send(xml, datetime.fromisoformat(created))
            except PermanentFailure as exc:
                log.error("audit message %s can never reach %s: %s", row_id, destination.name, exc)
                db.execute("UPDATE pending SET dead = 1 WHERE id = ?", (row_id,))
                continue
            except Exception as exc:  # noqa: BLE001 - any failure is retried later, never raised
                log.warning("audit destination %s unavailable: %s", destination.name, exc)
                db.execute("UPDATE pending SET attempts = attempts + 1 WHERE id = ?", (row_id,))
                return False
            db.execute("DELETE FROM pending WHERE id = ?", (row_id,))
        return True
