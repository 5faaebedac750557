"""The portal app's edges that need no identity provider: sign-in when the IdP is down or the
callback is forged, anonymous visits, POSTs without a session, API errors as problems."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from partage.serve import free_port
from portal.core.config import PortalSettings
from portal.main import create_app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: IdP and registry are down
    settings = PortalSettings(data_dir=tmp_path, log_json=False, issuer=dead,
                              registry_url=f"{dead}/registry", identity_url=f"{dead}/identity",
                              upstream_timeout_s=5)
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8050") as test_client:
        yield test_client


def test_an_identity_provider_down_gives_a_clear_page(client: TestClient) -> None:
    answer = client.get("/auth/login", params={"next": "/patients"})
    assert answer.status_code == 503
    assert "Connexion impossible" in answer.text and "Traceback" not in answer.text


def test_a_callback_the_portal_did_not_start_is_refused(client: TestClient) -> None:
    answer = client.get("/auth/callback", params={"code": "stolen", "state": "forged"})
    assert answer.status_code == 400 and "Connexion refusée" in answer.text
    cancelled = client.get("/auth/callback", params={"error": "access_denied",
                                                      "error_description": "cancelled"})
    assert cancelled.status_code == 400 and "access_denied" in cancelled.text


def test_an_anonymous_visit_stores_no_session(client: TestClient) -> None:
    answer = client.get("/")
    assert answer.status_code == 200 and 'data-testid="login"' in answer.text
    assert "set-cookie" not in answer.headers
    assert len(client.app.state.sessions) == 0  # type: ignore[attr-defined]


def test_a_post_without_a_session_is_refused_as_a_problem(client: TestClient) -> None:
    answer = client.post("/auth/logout", data={"csrf_token": "anything"})
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["title"] == "CSRF check failed"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]


def test_api_errors_are_problems_and_page_errors_are_pages(client: TestClient) -> None:
    api = client.get("/api/nothing-here")
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"
    page = client.get("/nothing-here")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert 'data-testid="error"' in page.text


def test_sign_in_starts_on_the_public_address(tmp_path: Path) -> None:
    """A browser on another name of the host is sent to the public address first: the IdP
    redirects there, and the session cookie must travel with that callback."""
    settings = PortalSettings(data_dir=tmp_path, public_url="http://127.0.0.1:8050")
    with TestClient(create_app(settings), base_url="http://localhost:8050") as other_name:
        answer = other_name.get("/auth/login", params={"next": "/patients?q=x"},
                                follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == ("http://127.0.0.1:8050/auth/login?"
                                          "next=%2Fpatients%3Fq%3Dx")
