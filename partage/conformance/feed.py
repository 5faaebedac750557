"""Patient identity feed for the "pif" steps: the registry must know a patient before it
accepts documents for it (ITI-8 / PIXm role). Two ways: the REST feed (our registry's
``PUT …/identity/patients/{cx}``, or a peer's at ``--feed``) and HL7v2 ADT^A04 over MLLP
(``--mllp host:port``)."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import quote

import httpx

MLLP_START, MLLP_END = b"\x0b", b"\x1c\x0d"


class Feed(Protocol):
    def register(self, patient_id: str) -> str:
        """Make ``patient_id`` (CX) known; return an error text, empty on success."""


@dataclass
class RestFeed:
    client: httpx.Client
    base: str
    token: str

    def register(self, patient_id: str) -> str:
        url = f"{self.base.rstrip('/')}/patients/{quote(patient_id, safe='')}"
        body = {"family_name": "Conformance", "given_name": patient_id.split("^")[0],
                "identifiers": []}
        try:
            response = self.client.put(url, json=body, headers={"Authorization": f"Bearer {self.token}"})
        except httpx.HTTPError as exc:
            return f"identity feed unreachable: {exc}"
        if response.status_code >= 300:
            return f"identity feed answered HTTP {response.status_code}: {response.text[:200]}"
        return ""


def adt_a04(patient_id: str, now: datetime, control_id: str) -> str:
    """An HL7 v2.5 ADT^A04 (register a patient) for ``patient_id`` in CX form."""
    stamp = now.strftime("%Y%m%d%H%M%S")
    segments = [
        f"MSH|^~\\&|PARTAGE-CONFORMANCE|PARTAGE|XDS-REGISTRY|REGION|{stamp}||ADT^A04^ADT_A01|"
        f"{control_id}|P|2.5",
        f"EVN|A04|{stamp}",
        f"PID|||{patient_id}||Conformance^{patient_id.split('^')[0]}||19700101|U",
        "PV1||O",
    ]
    return "\r".join(segments) + "\r"


@dataclass
class MllpFeed:
    host: str
    port: int
    timeout: float = 10.0

    def register(self, patient_id: str) -> str:
        message = adt_a04(patient_id, datetime.now(UTC), uuid.uuid4().hex[:20])
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
                sock.sendall(MLLP_START + message.encode("utf-8") + MLLP_END)
                answer = b""
                while MLLP_END not in answer:
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
        except OSError as exc:
            return f"MLLP feed to {self.host}:{self.port} failed: {exc}"
        text = answer.strip(MLLP_START + MLLP_END).decode("utf-8", "replace")
        msa = next((s for s in text.split("\r") if s.startswith("MSA|")), "")
        code = msa.split("|")[1] if "|" in msa else ""
        return "" if code in ("AA", "CA") else f"ADT^A04 not accepted: {msa or text[:200]!r}"


@dataclass
class NoFeed:
    def register(self, patient_id: str) -> str:
        return "no patient identity feed configured (use --mllp or --feed with --against)"
