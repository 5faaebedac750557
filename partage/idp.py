"""The development OpenID Connect provider (panva ``oidc-provider``, ``deploy/idp/server.mjs``)
run as a Node process for the demo and the tests: a real authorization server with a login page,
the authorization code flow with PKCE, refresh tokens, client credentials and RP-initiated logout,
issuing RFC 9068 JWT access tokens for the API audience (DESIGN.md, "development IdP").

    with DevIdP.running(clients=[portal_client("http://127.0.0.1:8050")], workdir=tmp) as idp:
        token = idp.service_token("gateway-a", "secret")

Its keys and sessions live in the process: a restart invalidates every token it issued.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote_plus, urljoin, urlsplit

import httpx

from partage.serve import free_port

IDP_DIR = Path(__file__).resolve().parents[1] / "deploy" / "idp"
SERVER_SCRIPT = IDP_DIR / "server.mjs"
USERS_FILE = IDP_DIR / "users.json"
#: the portal's client secret in the demo and the tests (never a production value)
DEV_PORTAL_SECRET = "partage-portal-dev-secret"
#: the privacy centre's (consent service, patients' sign-in) client
PRIVACY_CLIENT = "partage-privacy"
DEV_PRIVACY_SECRET = "partage-privacy-dev-secret"
INSTALL_HINT = "run ./dev test or ./dev demo to install"


class IdPError(RuntimeError):
    """The development IdP cannot start or answer."""


def portal_client(redirect_base: str, client_id: str = "partage-portal",
                  secret: str = DEV_PORTAL_SECRET) -> dict[str, Any]:
    """A confidential web client signing users in with the code flow + PKCE
    (``client_secret_basic`` at the token endpoint), redirected to ``{base}/auth/callback`` and,
    after logout, to ``{base}/``."""
    base = redirect_base.rstrip("/")
    return {
        "client_id": client_id,
        "client_secret": secret,
        "client_name": "Partage",
        "redirect_uris": [f"{base}/auth/callback"],
        "post_logout_redirect_uris": [f"{base}/"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    }


def service_client(client_id: str, secret: str, roles: Sequence[str],
                   site_oid: str = "") -> dict[str, Any]:
    """A machine client (client credentials grant) whose tokens carry ``roles`` and, for a site's
    service, ``site`` and ``organisation_oid`` = ``site_oid``."""
    client: dict[str, Any] = {
        "client_id": client_id,
        "client_secret": secret,
        "grant_types": ["client_credentials"],
        "response_types": [],
        "redirect_uris": [],
        "token_endpoint_auth_method": "client_secret_basic",
        "roles": list(roles),
    }
    if site_oid:
        client["site"] = site_oid
    return client


class DevIdP:
    """One ``node deploy/idp/server.mjs`` process on 127.0.0.1; its issuer is
    ``http://127.0.0.1:{port}``, byte-identical to what services must be configured with."""

    def __init__(self, workdir: Path, clients: Sequence[Mapping[str, Any]], *, port: int = 0,
                 users_file: Path = USERS_FILE, audience: str = "partage",
                 access_token_ttl_s: int = 900, refresh_token_ttl_s: int = 8 * 3600,
                 node: str = "node") -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.config = {
            "issuer": f"http://127.0.0.1:{self.port}",
            "port": self.port,
            "users_file": str(Path(users_file).resolve()),
            "clients": [dict(c) for c in clients],
            "audience": audience,
            "access_token_ttl_s": access_token_ttl_s,
            "refresh_token_ttl_s": refresh_token_ttl_s,
        }
        self.node = node
        self.log_path = workdir / "idp.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.discovery: dict[str, Any] = {}

    @classmethod
    @contextmanager
    def running(cls, workdir: Path, clients: Sequence[Mapping[str, Any]],
                **options: Any) -> Iterator[DevIdP]:
        idp = cls(workdir, clients, **options).start()
        try:
            yield idp
        finally:
            idp.stop()

    @property
    def issuer(self) -> str:
        return str(self.config["issuer"])

    @property
    def audience(self) -> str:
        return str(self.config["audience"])

    @property
    def authorization_url(self) -> str:
        return str(self.discovery["authorization_endpoint"])

    @property
    def token_url(self) -> str:
        return str(self.discovery["token_endpoint"])

    @property
    def jwks_url(self) -> str:
        return str(self.discovery["jwks_uri"])

    @property
    def end_session_url(self) -> str:
        return str(self.discovery["end_session_endpoint"])

    def client(self, client_id: str) -> dict[str, Any]:
        """The metadata (secret included) of a client this IdP was started with."""
        for client in self.config["clients"]:
            if client["client_id"] == client_id:
                return dict(client)
        raise KeyError(client_id)

    def start(self, timeout: float = 90.0) -> DevIdP:
        """Start the process and wait for its discovery document; ``IdPError`` (with the log's
        tail) when Node or the npm packages are missing, or the process dies or stays silent.
        It is usually ready in about a second; on two cores busy with other test workers it
        once took more than 30 s between loading oidc-provider and building the provider (its
        RSA key is generated there), hence the generous bound."""
        node = shutil.which(self.node)
        if node is None:
            raise IdPError(f"Node.js ({self.node}) not found: {INSTALL_HINT}")
        if not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
            raise IdPError(f"{IDP_DIR / 'node_modules'} lacks oidc-provider: {INSTALL_HINT}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config_path = self.workdir / "idp.json"
        config_path.write_text(json.dumps(self.config, indent=2))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([node, str(SERVER_SCRIPT), str(config_path)],
                                            stdout=log, stderr=subprocess.STDOUT, cwd=IDP_DIR)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        url = f"{self.issuer}/.well-known/openid-configuration"
        deadline = time.monotonic() + timeout
        assert self.process is not None
        while True:
            if self.process.poll() is not None:
                raise IdPError(f"the IdP exited with status {self.process.returncode}:\n"
                               f"{self.log_tail()}")
            try:
                answer = httpx.get(url, timeout=2.0)
                if answer.status_code == 200:
                    self.discovery = answer.json()
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise IdPError(f"the IdP did not answer {url} within {timeout} s:\n"
                               f"{self.log_tail()}")
            time.sleep(0.05)
        if self.discovery.get("issuer") != self.issuer:
            raise IdPError(f"the IdP names issuer {self.discovery.get('issuer')!r}, "
                           f"not {self.issuer!r}")

    def log_tail(self, lines: int = 30) -> str:
        """The end of the process's output (stdout and stderr)."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the process, and kill it if it has not exited within ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def service_token(self, client_id: str, secret: str) -> str:
        """An access token for a service client (client credentials grant, RFC 6749 §4.4)."""
        # client_secret_basic form-encodes both parts before Base64 (RFC 6749 §2.3.1)
        answer = httpx.post(self.token_url, data={"grant_type": "client_credentials"},
                            auth=(quote_plus(client_id), quote_plus(secret)), timeout=10.0)
        if answer.status_code != 200:
            raise IdPError(f"client credentials for {client_id} refused: {answer.text}")
        return str(answer.json()["access_token"])

    def user_token(self, login: str, *, client_id: str, secret: str, redirect_base: str,
                   password: str = "demo") -> str:
        """A demo user's access token, obtained as a browser and a web client would: the
        authorization request (code flow, PKCE S256) of ``client_id``, the IdP's login page
        filled in and posted, the code taken from the redirect to ``{redirect_base}/auth/
        callback`` (not followed) and exchanged at the token endpoint. For the demo and the
        tests to act as a patient (e.g. set their policy through the consent API)."""
        redirect_uri = f"{redirect_base.rstrip('/')}/auth/callback"
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(
            hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(16)
        with httpx.Client(timeout=30.0) as browser:
            page = browser.get(self.authorization_url, follow_redirects=True, params={
                "client_id": client_id, "response_type": "code", "scope": "openid profile",
                "redirect_uri": redirect_uri, "state": state, "nonce": secrets.token_urlsafe(16),
                "code_challenge": challenge, "code_challenge_method": "S256"})
            form = re.search(r'<form method="post" action="([^"]+)"', page.text)
            if page.status_code != 200 or form is None:
                raise IdPError(f"no login page for {client_id}: {page.status_code} "
                               f"{page.text[:300]}")
            answer = browser.post(urljoin(str(page.url), form.group(1)),
                                  data={"login": login, "password": password})
            for _ in range(10):
                if not answer.is_redirect:
                    break
                location = urljoin(str(answer.url), answer.headers["location"])
                if location.startswith(redirect_uri):
                    query = parse_qs(urlsplit(location).query)
                    if query.get("state") != [state] or "code" not in query:
                        raise IdPError(f"sign-in of {login} refused: {location}")
                    token = browser.post(self.token_url, auth=(quote_plus(client_id),
                                                               quote_plus(secret)), data={
                        "grant_type": "authorization_code", "code": query["code"][0],
                        "redirect_uri": redirect_uri, "code_verifier": verifier})
                    if token.status_code != 200:
                        raise IdPError(f"code exchange for {login} refused: {token.text}")
                    return str(token.json()["access_token"])
                answer = browser.get(location)
        raise IdPError(f"sign-in of {login} did not come back to {redirect_uri}: "
                       f"{answer.status_code} {answer.text[:300]}")
