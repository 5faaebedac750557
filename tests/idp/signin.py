"""A browser's part of the authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636), driven
with httpx against the development IdP: what the portal's tests and these tests share."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from partage.idp import DevIdP


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class Form:
    """The first ``<form>`` of a page: its action and its named inputs' values."""

    action: str = ""
    fields: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.form: Form | None = None
        self.closed = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and self.form is None:
            self.form = Form(values.get("action", ""))
        elif tag == "input" and self.form is not None and not self.closed and "name" in values:
            self.form.fields[values["name"]] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self.form is not None:
            self.closed = True


def first_form(page: httpx.Response) -> Form:
    parser = _FormParser()
    parser.feed(page.text)
    assert parser.form is not None, f"no form on {page.url}: {page.text[:500]}"
    return parser.form


@dataclass
class Flow:
    """One sign-in in progress: the browser (cookies), the client and the PKCE verifier."""

    idp: DevIdP
    browser: httpx.Client
    client_id: str
    redirect_uri: str
    verifier: str
    state: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    def authorize(self, **extra: str) -> httpx.Response:
        """GET the authorization endpoint and follow the IdP's redirects (to its login page,
        or straight back to the client when a session exists)."""
        params = {"response_type": "code", "client_id": self.client_id,
                  "redirect_uri": self.redirect_uri, "scope": "openid profile",
                  "state": self.state, "nonce": self.nonce, **extra}
        return self.follow(self.browser.get(self.idp.authorization_url, params=params))

    def follow(self, answer: httpx.Response) -> httpx.Response:
        """Follow redirects while they stay at the IdP; stop at the client's redirect URI."""
        while answer.is_redirect:
            target = urljoin(str(answer.url), answer.headers["location"])
            if not target.startswith(self.idp.issuer + "/"):
                return answer
            answer = self.browser.get(target)
        return answer

    def submit_login(self, page: httpx.Response, login: str, password: str) -> httpx.Response:
        form = first_form(page)
        answer = self.browser.post(urljoin(str(page.url), form.action),
                                   data={**form.fields, "login": login, "password": password})
        return self.follow(answer)

    def callback(self, answer: httpx.Response) -> dict[str, str]:
        """The query parameters the IdP sends back to the client's redirect URI."""
        assert answer.is_redirect, f"{answer.status_code} at {answer.url}: {answer.text[:500]}"
        location = answer.headers["location"]
        assert location.startswith(self.redirect_uri + "?"), location
        return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}

    def exchange(self, code: str, secret: str, verifier: str | None = None) -> httpx.Response:
        """The client's token request (``client_secret_basic``, RFC 6749 §4.1.3)."""
        return httpx.post(self.idp.token_url, auth=(self.client_id, secret), data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
            "code_verifier": verifier or self.verifier})


def start_flow(idp: DevIdP, browser: httpx.Client,
               client_id: str = "partage-portal") -> tuple[Flow, str]:
    """A new flow for ``client_id`` and its S256 code challenge."""
    verifier, challenge = pkce_pair()
    redirect_uri = idp.client(client_id)["redirect_uris"][0]
    return Flow(idp, browser, client_id, redirect_uri, verifier), challenge


def sign_in(idp: DevIdP, login: str, password: str = "demo",
            client_id: str = "partage-portal") -> dict[str, Any]:
    """The whole code flow for one user: the token response of the IdP."""
    with httpx.Client() as browser:
        flow, challenge = start_flow(idp, browser, client_id)
        page = flow.authorize(code_challenge=challenge, code_challenge_method="S256")
        params = flow.callback(flow.submit_login(page, login, password))
        assert params["state"] == flow.state
        answer = flow.exchange(params["code"], idp.client(client_id)["client_secret"])
        answer.raise_for_status()
        return {**answer.json(), "nonce": flow.nonce}
