"""Patient identity end to end: the whole registry app over real HTTP (REST feed, search,
cross-reference, merge, site directory) and its MLLP listener over a real TCP socket, on SQLite
and PostgreSQL."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from ihe.ebrim.enum import Scheme
from partage.db import Database
from partage.serve import background, free_port
from registry.core.config import RegistrySettings
from registry.identity.feed import decode
from registry.identity.mllp import frame
from registry.main import create_app
from registry.models import Patient, PatientIdentifier, RegistryObjectRow
from tests.registry.test_identity_units import ebrim_document
from tests.support.issuer import IdentityAuth, Issuer

INS = "1.2.250.1.213.1.4.10"
SITE_A = "1.2.250.1.999.2.1"
SITE_B = "1.2.250.1.999.2.2"
TOKEN = "test-feed-token"
ALICE = f"2801205123456^^^&{INS}&ISO"
ALICE_OLD = f"2801205999999^^^&{INS}&ISO"
NIST = "a1b2c3^^^&1.3.6.1.4.1.21367.2005.13.20.1000&ISO"


@dataclass
class Registry:
    http: httpx.Client
    db: Database
    mllp_port: int
    settings: RegistrySettings

    def send(self, *payloads: bytes, chunk: bytes = b"") -> list[str]:
        """Send framed payloads on one connection; return the acknowledgements."""
        with socket.create_connection(("127.0.0.1", self.mllp_port), timeout=10) as sock:
            sock.sendall(chunk + b"".join(frame(p) for p in payloads))
            return read_acks(sock, len(payloads))


def read_acks(sock: socket.socket, count: int) -> list[str]:
    data = b""
    while data.count(b"\x1c\x0d") < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return [
        decode(part.lstrip(b"\x0b"))[0] for part in data.split(b"\x1c\x0d") if part.strip()
    ]


@pytest.fixture
def registry(database_url: str, tmp_path: Path, issuer: Issuer) -> Iterator[Registry]:
    settings = RegistrySettings(
        issuer=issuer.url,
        database_url=database_url,
        data_dir=tmp_path,
        mllp_port=free_port(),
        feed_token=TOKEN,
        mllp_max_message_bytes=4096,
        log_json=False,
    )
    db = Database(database_url)
    with background(create_app(settings)) as server, httpx.Client(
        base_url=server.url, auth=IdentityAuth(issuer, TOKEN), timeout=20
    ) as http:
        yield Registry(http, db, settings.mllp_port, settings)
    db.engine.dispose()


def path(patient_id: str) -> str:
    return f"/identity/patients/{quote(patient_id, safe='')}"


def adt(event: str, pid3: str, control: str, *, extra: str = "", name: str = "MARTIN^Zoé") -> bytes:
    structure = {"A40": "ADT_A39"}.get(event, "ADT_A01")
    segments = [
        f"MSH|^~\\&|RIS|CHU-A|PARTAGE|REGION|20240301103000||ADT^{event}^{structure}|"
        f"{control}|P|2.5",
        f"EVN|{event}|20240301103000",
        f"PID|||{pid3}||{name}||19801205|F",
        *([extra] if extra else []),
    ]
    return ("\r".join(segments) + "\r").encode("utf-8")


def msa(ack: str) -> list[str]:
    return next(s for s in ack.split("\r") if s.startswith("MSA|")).split("|")


# --- REST ---------------------------------------------------------------------------------


def test_put_get_search_and_xref(registry: Registry) -> None:
    body = {
        "family_name": "Lefèvre",
        "given_name": "Zoé",
        "birth_date": "1980-12-05",
        "sex": "F",
        "identifiers": [{"authority": SITE_A, "local_id": "IPP-1"}],
    }
    created = registry.http.put(path(ALICE), json=body)
    assert created.status_code == 201, created.text
    assert created.json()["identifiers"] == [{"authority": SITE_A, "local_id": "IPP-1"}]
    updated = registry.http.put(path(ALICE), json={**body, "birth_date": "19801205"})
    assert updated.status_code == 200
    assert updated.json()["birth_date"] == "1980-12-05"

    got = registry.http.get(path(ALICE)).json()
    assert (got["patient_id"], got["family_name"], got["active"]) == (ALICE, "Lefèvre", True)

    searches = [{"family": "LEFEV"}, {"family": "lefè", "given": "zo"}, {"birth_date": "19801205"}]
    for params in searches:
        found = registry.http.get("/identity/patients", params=params)
        assert [p["patient_id"] for p in found.json()] == [ALICE], params
    assert registry.http.get("/identity/patients", params={"family": "lefevreX"}).json() == []
    assert registry.http.get("/identity/patients", params={"family": "%"}).json() == []

    xref = registry.http.get("/identity/xref", params={"authority": SITE_A, "local_id": "IPP-1"})
    assert xref.json() == {"authority": SITE_A, "local_id": "IPP-1", "patient_id": ALICE}
    unknown = registry.http.get("/identity/xref", params={"authority": SITE_A, "local_id": "nope"})
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


def test_nist_authority_is_accepted_as_key(registry: Registry) -> None:
    answer = registry.http.put(path(NIST), json={"family_name": "Conformance", "identifiers": []})
    assert answer.status_code == 201
    assert registry.http.get(path(NIST)).json()["patient_id"] == NIST


@pytest.mark.parametrize(
    "bad_id", ["2801205123456", f"2801205123456^^^&{INS}", "x^^^&1.2.x&ISO", f"a^^^NS&{INS}&ISO"]
)
def test_malformed_key_is_a_422_problem(registry: Registry, bad_id: str) -> None:
    answer = registry.http.put(path(bad_id), json={})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == "Invalid patient ID"


def test_writes_need_the_feed_token(registry: Registry) -> None:
    for authorization in ["", "Bearer wrong", f"Basic {TOKEN}", "Bearer"]:
        answer = registry.http.put(path(ALICE), json={}, headers={"Authorization": authorization})
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
    with registry.db.session() as session:
        assert session.get(Patient, ALICE) is None


def test_invalid_body_is_a_problem_and_writes_nothing(registry: Registry) -> None:
    answer = registry.http.put(
        path(ALICE), json={"sex": "X", "identifiers": [{"authority": "not-oid", "local_id": "1"}]}
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert {tuple(e["loc"][-1:]) for e in answer.json()["errors"]} >= {("sex",), ("authority",)}
    same_authority = registry.http.put(
        path(ALICE), json={"identifiers": [{"authority": INS, "local_id": "1"}]}
    )
    assert same_authority.status_code == 422
    with registry.db.session() as session:
        assert session.get(Patient, ALICE) is None


def test_merge_moves_identifiers_and_refiles_documents(registry: Registry) -> None:
    registry.http.put(path(ALICE), json={"family_name": "MARTIN"}).raise_for_status()
    registry.http.put(
        path(ALICE_OLD),
        json={"family_name": "MARTIN", "identifiers": [{"authority": SITE_B, "local_id": "B-7"}]},
    ).raise_for_status()
    with registry.db.session() as session:
        session.add(
            RegistryObjectRow(
                entry_uuid="urn:uuid:d1", kind="doc", patient_id=ALICE_OLD, status="Approved",
                xml=ebrim_document(ALICE_OLD),
            )
        )
    merged = registry.http.post("/identity/merge", json={"surviving": ALICE, "subsumed": ALICE_OLD})
    assert merged.status_code == 200, merged.text
    assert merged.json() == {
        "surviving": ALICE, "subsumed": ALICE_OLD, "identifiers_moved": 1, "objects_updated": 1
    }
    with registry.db.session() as session:
        row = session.scalar(select(RegistryObjectRow))
        assert row is not None and row.patient_id == ALICE
        escaped = ALICE.replace("&", "&amp;")
        assert f'identificationScheme="{Scheme.DE_PATIENT_ID}" value="{escaped}"' in row.xml
        old = session.get(Patient, ALICE_OLD)
        assert old is not None and (old.active, old.merged_into) == (False, ALICE)
    xref = registry.http.get("/identity/xref", params={"authority": SITE_B, "local_id": "B-7"})
    assert xref.json()["patient_id"] == ALICE
    by_old_ins = registry.http.get(
        "/identity/xref", params={"authority": INS, "local_id": "2801205999999"}
    )
    assert by_old_ins.json()["patient_id"] == ALICE
    martins = registry.http.get("/identity/patients", params={"family": "martin"}).json()
    assert [p["patient_id"] for p in martins] == [ALICE]
    # writing to the subsumed ID, or merging the survivor away into it, is refused
    assert registry.http.put(path(ALICE_OLD), json={}).status_code == 409
    backwards = {"surviving": ALICE_OLD, "subsumed": ALICE}
    assert registry.http.post("/identity/merge", json=backwards).status_code == 409
    unknown = registry.http.post("/identity/merge", json={"surviving": ALICE, "subsumed": NIST})
    assert unknown.status_code == 404


def test_site_directory(registry: Registry) -> None:
    site = {
        "name": "CHU Nord",
        "repository_unique_id": "1.2.250.1.999.2.1.1",
        "wado_rs_url": "http://127.0.0.1:9000/wado-rs",
    }
    assert registry.http.put(f"/identity/sites/{SITE_A}", json=site).status_code == 201
    suspended = registry.http.put(f"/identity/sites/{SITE_A}", json={**site, "active": False})
    assert suspended.status_code == 200
    got = registry.http.get(f"/identity/sites/{SITE_A}").json()
    assert (got["name"], got["active"], got["rad69_url"]) == ("CHU Nord", False, None)
    by_repo = registry.http.get(
        "/identity/sites", params={"repository_unique_id": "1.2.250.1.999.2.1.1"}
    )
    assert [s["oid"] for s in by_repo.json()] == [SITE_A]
    clash = registry.http.put(f"/identity/sites/{SITE_B}", json=site)
    assert clash.status_code == 409 and clash.headers["content-type"] == "application/problem+json"
    assert registry.http.get(f"/identity/sites/{SITE_B}").status_code == 404
    assert registry.http.put("/identity/sites/not-an-oid", json=site).status_code == 422
    anonymous = registry.http.put(
        f"/identity/sites/{SITE_B}", json=site, headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401


# --- MLLP ---------------------------------------------------------------------------------


def test_adt_feed_creates_links_and_updates(registry: Registry) -> None:
    acks = registry.send(
        adt("A04", f"2801205123456^^^&{INS}&ISO~IPP-1^^^CHU-A&{SITE_A}&ISO^PI", "C1"),
        adt("A08", f"IPP-1^^^CHU-A&{SITE_A}&ISO^PI", "C2", name="MARTIN-DURAND^Zoé"),
    )
    assert [msa(a)[1:3] for a in acks] == [["AA", "C1"], ["AA", "C2"]]
    assert acks[0].split("\r")[0].split("|")[8] == "ACK^A04^ACK"
    with registry.db.session() as session:
        patient = session.get(Patient, ALICE)
        assert patient is not None and patient.family_name == "MARTIN-DURAND"
        assert (patient.given_name, patient.birth_date, patient.sex) == ("Zoé", "19801205", "F")
        link = session.scalar(select(PatientIdentifier))
        assert link is not None
        assert (link.authority, link.local_id, link.patient_id) == (SITE_A, "IPP-1", ALICE)
    found = registry.http.get("/identity/patients", params={"family": "martin durand"}).json()
    assert [p["patient_id"] for p in found] == [ALICE]


def test_adt_without_regional_id_is_refused(registry: Registry) -> None:
    (ack,) = registry.send(adt("A01", f"IPP-9^^^CHU-A&{SITE_A}&ISO^PI", "C9"))
    assert msa(ack)[1:3] == ["AE", "C9"]
    err = next(s for s in ack.split("\r") if s.startswith("ERR|")).split("|")
    assert err[2] == "PID^1^3" and err[3].startswith("204^")
    with registry.db.session() as session:
        assert session.scalar(select(PatientIdentifier)) is None
        assert session.scalar(select(Patient)) is None


def test_adt_a40_merges_and_refiles_documents(registry: Registry) -> None:
    registry.send(
        adt("A04", f"2801205123456^^^&{INS}&ISO~IPP-1^^^&{SITE_A}&ISO", "C1"),
        adt("A04", f"2801205999999^^^&{INS}&ISO~B-7^^^&{SITE_B}&ISO", "C2"),
    )
    with registry.db.session() as session:
        session.add(
            RegistryObjectRow(
                entry_uuid="urn:uuid:d1", kind="doc", patient_id=ALICE_OLD, status="Approved",
                xml=ebrim_document(ALICE_OLD),
            )
        )
    (ack,) = registry.send(
        adt("A40", f"2801205123456^^^&{INS}&ISO", "M1", extra=f"MRG|2801205999999^^^&{INS}&ISO")
    )
    assert msa(ack)[1] == "AA", ack
    with registry.db.session() as session:
        old = session.get(Patient, ALICE_OLD)
        assert old is not None and (old.active, old.merged_into) == (False, ALICE)
        row = session.scalar(select(RegistryObjectRow))
        assert row is not None and row.patient_id == ALICE and "2801205999999" not in row.xml
        owners = {i.local_id: i.patient_id for i in session.scalars(select(PatientIdentifier))}
        assert owners == {"IPP-1": ALICE, "B-7": ALICE}
    (again,) = registry.send(adt("A08", f"2801205999999^^^&{INS}&ISO", "U1"))
    assert msa(again)[1] == "AE"
    (unknown,) = registry.send(
        adt("A40", f"2801205123456^^^&{INS}&ISO", "M2", extra=f"MRG|1111^^^&{INS}&ISO")
    )
    assert msa(unknown)[1] == "AE"


def test_hostile_mllp_input(registry: Registry) -> None:
    # garbage outside frames is dropped; the framed message after it is answered
    (ack,) = registry.send(adt("A04", ALICE, "G1"), chunk=b"\x00\xffGET / HTTP/1.1\r\n\r\n")
    assert msa(ack)[1:3] == ["AA", "G1"]
    # garbage inside a frame, a non-ADT message, a bogus segment: each gets its AR, none kills
    # the link; a message in ISO 8859-1 rather than UTF-8 is read as such
    oru = b"MSH|^~\\&|LAB|X|PARTAGE|R|2024||ORU^R01|O1|P|2.5\rPID|||1^^^&1.2.3&ISO\r"
    latin1 = adt("A04", ALICE, "L1").replace("Zoé".encode(), "Zoé".encode("latin-1"))
    bogus = adt("A04", ALICE, "B1") + b"\xe9\xff|x\r"
    acks = registry.send(b"\x00\x01garbage\xff\xfe", oru, bogus, latin1)
    assert [msa(a)[1] for a in acks] == ["AR", "AR", "AR", "AA"]
    assert [msa(a)[2] for a in acks[1:]] == ["O1", "B1", "L1"]
    with registry.db.session() as session:
        patient = session.get(Patient, ALICE)
        assert patient is not None and patient.given_name == "Zoé"
    # a frame past the size bound: AR, connection closed, nothing stored
    huge = adt("A04", f"9999^^^&{INS}&ISO", "H1", name="X" * 10_000 + "^Y")
    with socket.create_connection(("127.0.0.1", registry.mllp_port), timeout=10) as sock:
        sock.sendall(frame(huge))
        (refusal,) = read_acks(sock, 1)
        assert sock.recv(10) == b""
    assert msa(refusal)[1:3] == ["AR", "H1"]
    with registry.db.session() as session:
        assert session.get(Patient, f"9999^^^&{INS}&ISO") is None
    # the listener still works
    (ok,) = registry.send(adt("A31", ALICE, "OK1"))
    assert msa(ok)[1] == "AA"
