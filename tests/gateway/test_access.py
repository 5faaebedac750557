"""The gateway's single access decision and its enforcement on every serving route: a valid
token with a professional role is permitted; a patient, a token without roles, a missing,
forged, expired or foreign token never reach a pixel."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.access import PROFESSIONAL_ROLES, Access
from gateway.core.config import GatewaySettings
from gateway.models import ALEMBIC_DIR
from partage.audit import AuditTrail
from partage.auth import Principal
from partage.db import Database, migrate
from partage.orthanc import Orthanc
from tests.gateway.studies import StoredStudy, make_spec, store_rest
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.issuer import Issuer, _signing_key

STUDY = "1.2.3.4"


@pytest.fixture
def role_rule(tmp_path: Path) -> Iterator[Access]:
    """The decision point without a consent service: the role rule."""
    settings = GatewaySettings(data_dir=tmp_path)
    db = Database(settings.resolved_database_url())
    migrate(db.engine, ALEMBIC_DIR)
    yield Access(settings, db, None, AuditTrail(tmp_path / "audit.sqlite", []))
    db.engine.dispose()


@pytest.mark.parametrize("role", sorted(PROFESSIONAL_ROLES))
def test_professionals_are_permitted(role_rule: Access, role: str) -> None:
    decision = role_rule.authorize(Principal("dr-x", frozenset({role}), purpose_of_use="TREAT"),
                                   STUDY)
    assert decision.permit and role in decision.reason


@pytest.mark.parametrize("roles", [set(), {"patient"}, {"offline_access", "uma_authorization"}])
def test_others_are_refused(role_rule: Access, roles: set[str]) -> None:
    decision = role_rule.authorize(Principal("someone", frozenset(roles)), STUDY)
    assert not decision.permit and "no professional role" in decision.reason


@pytest.fixture
def study(orthanc: Orthanc) -> StoredStudy:
    return store_rest(orthanc, make_spec(slices=1))


@pytest.fixture
def gateway(orthanc: Orthanc, issuer: Issuer, tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(orthanc, issuer, tmp_path) as running:
        yield running


def routes(study: StoredStudy) -> list[str]:
    ds = study.datasets[0]
    instance = (f"/wado-rs/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                f"/instances/{ds.SOPInstanceUID}")
    return [f"/wado-rs/studies/{ds.StudyInstanceUID}", f"{instance}/metadata",
            f"{instance}/frames/1", f"{instance}/rendered",
            f"/wado?requestType=WADO&studyUID={ds.StudyInstanceUID}&seriesUID="
            f"{ds.SeriesInstanceUID}&objectUID={ds.SOPInstanceUID}"]


def forged(issuer: Issuer) -> str:
    token = issuer.token(key=_signing_key("RSA"))
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    header["kid"] = issuer.keys["RSA"].kid
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return ".".join([encoded, *token.split(".")[1:]])


def test_every_route_checks_the_token(gateway: RunningGateway, study: StoredStudy,
                                      issuer: Issuer) -> None:
    refusals = {"none": {}, "forged": gateway.auth(forged(issuer)),
                "expired": gateway.auth(issuer.token(exp=1)),
                "wrong audience": gateway.auth(issuer.token(aud="registry"))}
    for route in routes(study):
        assert httpx.get(f"{gateway.url}{route}", headers=gateway.auth()).status_code == 200
        for why, headers in refusals.items():
            answer = httpx.get(f"{gateway.url}{route}", headers=headers)
            assert answer.status_code == 401, (route, why)
            assert answer.headers["content-type"] == "application/problem+json"


def test_every_route_asks_the_decision_point(gateway: RunningGateway, study: StoredStudy,
                                             issuer: Issuer) -> None:
    patient = gateway.auth(issuer.token("patient-1", ["patient"]))
    for route in routes(study):
        answer = httpx.get(f"{gateway.url}{route}", headers=patient)
        assert answer.status_code == 403, route
        assert answer.json()["detail"].startswith(f"access to study {study.study_instance_uid}")
