"""The development OIDC provider (real Node process, deploy/idp) as the portal and the services
see it: discovery, the code flow with PKCE and our login page, the tokens' claims as
``partage.auth.TokenValidator`` reads them, refresh, client credentials and logout."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from partage.auth import TokenError, TokenValidator
from partage.idp import DevIdP, IdPError
from tests.idp.signin import first_form, sign_in, start_flow

AUDIENCE = "partage"


@pytest.fixture(scope="module")
def validator(idp: DevIdP) -> TokenValidator:
    return TokenValidator(idp.issuer, AUDIENCE)


def id_token_claims(idp: DevIdP, token: str) -> dict[str, object]:
    keys = KeySet.import_key_set(httpx.get(idp.jwks_url).json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    jwt.JWTClaimsRegistry(iss={"essential": True, "value": idp.issuer},
                          aud={"essential": True, "value": "partage-portal"},
                          exp={"essential": True}).validate(decoded.claims)
    return dict(decoded.claims)


def test_discovery_names_the_issuer_byte_identically(idp: DevIdP) -> None:
    document = httpx.get(f"{idp.issuer}/.well-known/openid-configuration").json()
    assert document["issuer"] == idp.issuer == f"http://127.0.0.1:{idp.port}"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert {"authorization_code", "refresh_token", "client_credentials"} <= set(
        document["grant_types_supported"])
    keys = httpx.get(idp.jwks_url).json()["keys"]
    assert [(k["kty"], k["alg"]) for k in keys] == [("RSA", "RS256")]
    assert all("d" not in k for k in keys), "the JWKS must hold public keys only"


def test_code_flow_with_pkce_gives_an_rfc9068_token_for_the_api(
        idp: DevIdP, validator: TokenValidator) -> None:
    tokens = sign_in(idp, "dr.martin")
    header = jwt.decode(tokens["access_token"],
                        KeySet.import_key_set(httpx.get(idp.jwks_url).json())).header
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    principal = validator.validate(tokens["access_token"])
    assert principal.subject == "dr.martin"
    assert principal.roles == {"radiologist"}
    assert principal.rpps == "10001234567"
    assert principal.organisation == "CHU Nord"
    assert principal.purpose_of_use == "TREAT"
    assert principal.name == "Dr Sophie Martin"
    assert principal.claims["organisation_oid"] == "1.2.250.1.999.1.1"
    assert principal.claims["aud"] == AUDIENCE
    assert tokens["refresh_token"]

    claims = id_token_claims(idp, tokens["id_token"])
    assert claims["nonce"] == tokens["nonce"]
    assert claims["sub"] == "dr.martin"
    assert (claims["roles"], claims["rpps"], claims["organisation"]) == (
        ["radiologist"], "10001234567", "CHU Nord")


def test_radiologist_of_site_b_and_a_patient_carry_their_own_claims(
        idp: DevIdP, validator: TokenValidator) -> None:
    lefevre = validator.validate(sign_in(idp, "dr.lefevre")["access_token"])
    assert (lefevre.rpps, lefevre.organisation) == ("10007654321", "Centre d'imagerie Sud")
    assert lefevre.claims["organisation_oid"] == "1.2.250.1.999.1.2"

    patient = validator.validate(sign_in(idp, "claire.martin")["access_token"])
    assert patient.roles == {"patient"}
    assert patient.claims["ins"] == "2801205123456"
    assert patient.rpps == "" and patient.purpose_of_use == ""


@pytest.mark.parametrize(("login", "password"), [("dr.martin", "wrong"), ("nobody", "demo"),
                                                  ("dr.martin", "")])
def test_a_failed_login_shows_the_form_again_with_an_error(
        idp: DevIdP, validator: TokenValidator, login: str, password: str) -> None:
    with httpx.Client() as browser:
        flow, challenge = start_flow(idp, browser)
        page = flow.authorize(code_challenge=challenge, code_challenge_method="S256")
        assert page.status_code == 200
        assert {"login", "password"} <= set(first_form(page).fields)
        failed = flow.submit_login(page, login, password)
        assert failed.status_code == 200
        assert 'role="alert"' in failed.text and "Wrong login or password" in failed.text
        assert {"login", "password"} <= set(first_form(failed).fields)
        # the same sign-in request still succeeds with the right password
        params = flow.callback(flow.submit_login(failed, "dr.martin", "demo"))
        answer = flow.exchange(params["code"], idp.client("partage-portal")["client_secret"])
        assert validator.validate(answer.json()["access_token"]).subject == "dr.martin"


def test_no_consent_page_even_when_the_client_asks_for_one(idp: DevIdP) -> None:
    with httpx.Client() as browser:
        flow, challenge = start_flow(idp, browser)
        page = flow.authorize(code_challenge=challenge, code_challenge_method="S256",
                              prompt="consent")
        params = flow.callback(flow.submit_login(page, "dr.lefevre", "demo"))
        answer = flow.exchange(params["code"], idp.client("partage-portal")["client_secret"])
    assert answer.status_code == 200, answer.text


def test_a_stale_login_form_gets_an_error_page_not_a_crash(idp: DevIdP) -> None:
    answer = httpx.post(f"{idp.issuer}/interaction/no-such-request/login",
                        data={"login": "dr.martin", "password": "demo"})
    assert answer.status_code == 400
    assert "expired" in answer.text


def test_an_authorization_request_without_pkce_is_refused(idp: DevIdP) -> None:
    with httpx.Client() as browser:
        flow, _ = start_flow(idp, browser)
        params = flow.callback(flow.authorize())
    assert params["error"] == "invalid_request"
    assert "PKCE" in params["error_description"]


def test_a_wrong_code_verifier_is_refused(idp: DevIdP) -> None:
    with httpx.Client() as browser:
        flow, challenge = start_flow(idp, browser)
        page = flow.authorize(code_challenge=challenge, code_challenge_method="S256")
        params = flow.callback(flow.submit_login(page, "dr.roux", "demo"))
        answer = flow.exchange(params["code"], idp.client("partage-portal")["client_secret"],
                               verifier="x" * 43)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_the_refresh_token_grant_gives_a_new_access_token(
        idp: DevIdP, validator: TokenValidator) -> None:
    tokens = sign_in(idp, "dr.roux")
    client = idp.client("partage-portal")
    answer = httpx.post(idp.token_url, auth=(client["client_id"], client["client_secret"]),
                        data={"grant_type": "refresh_token",
                              "refresh_token": tokens["refresh_token"]})
    assert answer.status_code == 200, answer.text
    renewed = answer.json()
    assert renewed["access_token"] != tokens["access_token"]
    principal = validator.validate(renewed["access_token"])
    assert (principal.subject, principal.roles) == ("dr.roux", {"physician"})


def test_client_credentials_give_a_service_its_roles_and_site(
        idp: DevIdP, validator: TokenValidator) -> None:
    secret = idp.client("gateway-a")["client_secret"]
    principal = validator.validate(idp.service_token("gateway-a", secret))
    assert principal.subject == "gateway-a"
    assert principal.roles == {"site-gateway"}
    assert principal.claims["site"] == principal.claims["organisation_oid"] == "1.2.250.1.999.1.1"
    assert principal.claims["exp"] - principal.claims["iat"] == 900
    with pytest.raises(IdPError, match="invalid_client"):
        idp.service_token("gateway-a", "not-the-secret")


def test_a_service_token_is_refused_for_another_audience(idp: DevIdP) -> None:
    token = idp.service_token("gateway-a", idp.client("gateway-a")["client_secret"])
    with pytest.raises(TokenError):
        TokenValidator(idp.issuer, "registry").validate(token)


def test_logout_needs_no_click_and_returns_to_the_portal(idp: DevIdP) -> None:
    client = idp.client("partage-portal")
    with httpx.Client() as browser:
        flow, challenge = start_flow(idp, browser)
        page = flow.authorize(code_challenge=challenge, code_challenge_method="S256")
        params = flow.callback(flow.submit_login(page, "dr.martin", "demo"))
        id_token = flow.exchange(params["code"], client["client_secret"]).json()["id_token"]
        # signed in: a second authorization comes straight back without the login page
        assert "code" in flow.callback(flow.authorize(code_challenge=challenge,
                                                      code_challenge_method="S256"))

        home = client["post_logout_redirect_uris"][0]
        confirm = browser.get(idp.end_session_url, params={
            "id_token_hint": id_token, "post_logout_redirect_uri": home, "state": "bye"})
        assert confirm.status_code == 200
        # the confirmation submits itself, with a script the page's CSP allows by its hash
        script = re.search(r"<script>(.*?)</script>", confirm.text, re.S)
        assert script and "submit()" in script.group(1)
        digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
        assert f"script-src 'sha256-{digest}'" in confirm.headers["content-security-policy"]
        form = first_form(confirm)
        assert form.fields["logout"] == "yes"
        done = browser.post(form.action, data=form.fields)
        assert done.is_redirect
        assert done.headers["location"] == f"{home}?state=bye"

        # signed out: the login page again
        again = flow.authorize(code_challenge=challenge, code_challenge_method="S256")
        assert again.status_code == 200 and "password" in first_form(again).fields


def test_the_launcher_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(IdPError, match=r"\./dev test or \./dev demo"):
        DevIdP(tmp_path, [], node="no-such-node-binary").start()
    broken = tmp_path / "users.json"
    broken.write_text('{"users": [{"login": "x", "password": "p"}]}')
    started = time.monotonic()
    with pytest.raises(IdPError, match="x has no roles"):
        DevIdP(tmp_path, [], users_file=broken).start()
    assert time.monotonic() - started < 10
