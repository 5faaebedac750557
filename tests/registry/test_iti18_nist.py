"""ITI-18 over real HTTP against data registered with ITI-42: NIST 12346 loaded the way the
NIST harness loads it (TESTS.md, "Harness duties"), then the NIST 11897 FindDocuments sections
and 15803 GetAll, each judged by its own testplan's ExpectedStatus and ExpectedContents."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from lxml import etree

from ihe.ebrim import AdhocQueryRequest, AdhocQueryResponse, RegistryPackage, ResponseStatus
from ihe.ebrim.enum import Scheme
from ihe.namespaces import QUERY, RIM, RS, q
from ihe.soap import Action, Envelope
from partage.db import Database
from partage.devissuer import DevIssuer
from partage.serve import BackgroundServer, background
from partage.soap import SOAP_CONTENT_TYPE
from partage.xsd import errors as xsd_errors
from registry.core.config import RegistrySettings
from registry.main import create_app
from registry.models import Patient
from tests.conftest import repository_token

PATIENT = f"{uuid.uuid4().hex[:10]}^^^&1.3.6.1.4.1.21367.2005.13.20.1000&ISO"
PATIENT_XML = PATIENT.replace("&", "&amp;")
#: NIST 12346 sections in run order (its index.idx, without the patient feed)
LOAD_12346 = ["single_doc", "doc_w_fol", "two_doc_w_fol", "doc_for_rplc", "rplc"]
_UNIQUE_IDS = {Scheme.DE_UNIQUE_ID, Scheme.SS_UNIQUE_ID, Scheme.FOL_UNIQUE_ID}
_serial = iter(range(1, 10**6))


def _post(server: BackgroundServer, action: str, body: etree._Element, token: str = ""
          ) -> etree._Element:
    envelope = Envelope(body=body, action=action, message_id=f"urn:uuid:{uuid.uuid4()}",
                        to=f"{server.url}/registry")
    headers = {"content-type": SOAP_CONTENT_TYPE}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    reply = httpx.post(f"{server.url}/registry", content=envelope.to_bytes(), headers=headers,
                       timeout=30)
    assert reply.status_code == 200, reply.text
    return Envelope.from_bytes(reply.content).body


def _submission(conformance_dir: Path, section: str, symbols: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """The section's ebRIM 3.0 metadata with the harness duties done: patient, fresh
    urn:uuids for symbolic ids (AssignUuids), fresh uniqueIds, a sourceId."""
    folder = conformance_dir / "nist-testkit-v3" / "tests" / "12346" / section
    text = next(folder.glob("*.xml")).read_text("utf-8")
    for name, value in {"patientid": PATIENT_XML, **symbols}.items():
        text = text.replace(f"${name}$", value)
    assigned: dict[str, str] = {}
    for symbolic in sorted(set(re.findall(r'\bid="([^"]+)"', text))):
        if not symbolic.startswith("urn:uuid:"):
            assigned[symbolic] = f"urn:uuid:{uuid.uuid4()}"
            text = text.replace(f'"{symbolic}"', f'"{assigned[symbolic]}"')
    root = etree.fromstring(text.encode("utf-8"))
    for ident in root.iter(q(RIM, "ExternalIdentifier")):
        if ident.get("identificationScheme") in _UNIQUE_IDS:
            ident.set("value", f"1.2.250.1.999.77.{uuid.uuid4().int % 10**9}.{next(_serial)}")
        elif ident.get("identificationScheme") == Scheme.SS_SOURCE_ID:
            ident.set("value", "1.2.250.1.999.2.1")
    return etree.tostring(root), assigned


@pytest.fixture
def registry_server(database_url: str, conformance_dir: Path, tmp_path: Path,
                    issuer: DevIssuer) -> Iterator[BackgroundServer]:
    settings = RegistrySettings(database_url=database_url, data_dir=tmp_path, issuer=issuer.url)
    app = create_app(settings)
    db = Database(database_url)
    with db.session() as session:
        session.add(Patient(patient_id=PATIENT, active=True, updated_at=datetime.now(UTC)))
    db.engine.dispose()
    with background(app) as server:
        symbols: dict[str, str] = {}
        for section in LOAD_12346:
            body, assigned = _submission(conformance_dir, section, symbols)
            answer = _post(server, Action.REGISTER, etree.fromstring(body),
                           repository_token(issuer))
            assert answer.get("status") == ResponseStatus.SUCCESS, etree.tostring(answer)
            if section == "doc_for_rplc":
                symbols["rplc_doc_uuid"] = assigned["Document01"]
        yield server


def _expected(testplan: Path) -> tuple[str, dict[str, int]]:
    plan = etree.parse(str(testplan)).getroot()
    status = plan.findtext(".//ExpectedStatus") or ""
    contents = plan.find(".//ExpectedContents")
    counts = {
        el.tag: int(el.get("count", "0"))
        for el in (contents if contents is not None else [])
        if isinstance(el.tag, str)
    }
    if contents is not None and contents.find("None") is not None:
        counts = {"ObjectRefs": 0, "Documents": 0}
    return status, counts


def _counts(body: etree._Element) -> dict[str, int]:
    response = AdhocQueryResponse.from_element(body)
    packages = [o for o in response.objects if isinstance(o, RegistryPackage)]
    return {
        "ObjectRefs": len(body.findall(f"{q(RIM, 'RegistryObjectList')}/{q(RIM, 'ObjectRef')}")),
        "Documents": len(body.findall(f"{q(RIM, 'RegistryObjectList')}/{q(RIM, 'ExtrinsicObject')}")),
        "SubmissionSets": sum(p.is_submission_set for p in packages),
        "Folders": sum(p.is_folder for p in packages),
        "Associations": len(body.findall(f"{q(RIM, 'RegistryObjectList')}/{q(RIM, 'Association')}")),
    }


def _run_section(server: BackgroundServer, section_dir: Path, token: str) -> None:
    query_file = next(p for p in section_dir.iterdir() if p.name.lower().startswith("query"))
    text = query_file.read_text("utf-8").replace("$patient_id$", PATIENT_XML)
    request = AdhocQueryRequest.from_bytes(text.encode("utf-8"))
    body = _post(server, Action.STORED_QUERY, request.to_element(), token)
    assert body.tag == q(QUERY, "AdhocQueryResponse")
    assert xsd_errors(body) == [], section_dir.name
    status, counts = _expected(section_dir / "testplan.xml")
    if status == "Failure":
        assert body.get("status") == ResponseStatus.FAILURE, section_dir.name
        assert body.find(f"{q(RS, 'RegistryErrorList')}/{q(RS, 'RegistryError')}") is not None
        return
    assert body.get("status") == ResponseStatus.SUCCESS, (section_dir.name, etree.tostring(body))
    got = _counts(body)
    assert {k: got[k] for k in counts} == counts, section_dir.name


def test_nist_11897_find_documents_and_15803_get_all(
    registry_server: BackgroundServer, conformance_dir: Path, issuer: DevIssuer
) -> None:
    token = issuer.token("dr-martin", ["radiologist"], lifetime_s=600)
    tests = conformance_dir / "nist-testkit" / "tests"
    sections = (tests / "11897" / "index.idx").read_text().split()
    assert len(sections) == 29
    for section in sections:
        _run_section(registry_server, tests / "11897" / section, token)
    _run_section(registry_server, tests / "15803" / "all", token)
