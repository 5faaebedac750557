"""A development token issuer for the demo, the benchmarks and the tests: an HTTP app publishing
an OpenID Connect discovery document and a JWKS (one RSA and one EC P-256 signing key made with
joserfc), a mint function for RFC 9068 access tokens (``typ: at+jwt``), and a token endpoint
for the client credentials grant (RFC 6749 §4.4) of registered clients, so services get their
own tokens as they would from the region's real provider. Keys live in memory and can be
rotated. It has no login: never expose it beyond loopback.

    with DevIssuer.running(audience="partage") as issuer:
        token = issuer.token(sub="dr-house", roles=["radiologist"])
        secret = issuer.register_client("gateway-a", roles=["service"])
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import FastAPI, Form, Header, Response
from fastapi.responses import JSONResponse
from joserfc import jwt
from joserfc.jwk import ECKey, Key, KeySet, RSAKey

from partage.serve import BackgroundServer


def signing_key(kty: str) -> Key:
    """A fresh signing key (``RSA`` 2048 or ``EC`` P-256) with a random ``kid``."""
    params = {"kid": f"{kty.lower()}-{uuid.uuid4().hex[:8]}", "use": "sig"}
    if kty == "EC":
        return ECKey.generate_key("P-256", parameters=params)
    return RSAKey.generate_key(2048, parameters=params)


@dataclass(frozen=True)
class Client:
    """A client allowed the client credentials grant: its secret, the audiences it may ask
    for (RFC 8707 ``resource``), and the claims of its tokens (``sub`` is its id)."""

    secret: str
    audiences: frozenset[str]
    roles: tuple[str, ...]
    lifetime_s: int
    claims: dict[str, Any] = field(default_factory=dict)


class DevIssuer:
    """The issuer's keys, clients and HTTP app; ``jwks_fetches`` counts JWKS downloads and
    ``tokens_issued`` the tokens its token endpoint gave out."""

    def __init__(self, audience: str = "partage") -> None:
        self.audience = audience
        self.keys: dict[str, Key] = {"RSA": signing_key("RSA"), "EC": signing_key("EC")}
        self.retired: list[Key] = []
        self.clients: dict[str, Client] = {}
        self.jwks_fetches = 0
        self.tokens_issued = 0
        self.server: BackgroundServer | None = None
        self.app = self._build_app()

    @classmethod
    @contextmanager
    def running(cls, audience: str = "partage", port: int = 0) -> Iterator[DevIssuer]:
        issuer = cls(audience)
        issuer.start(port)
        try:
            yield issuer
        finally:
            issuer.stop()

    @property
    def url(self) -> str:
        """The issuer identifier (``iss``), byte-identical to what services are configured with."""
        assert self.server is not None, "start() the issuer first"
        return self.server.url

    def start(self, port: int = 0) -> DevIssuer:
        """Serve on 127.0.0.1:``port`` (0: a free port) in a background thread."""
        self.server = BackgroundServer(self.app, port=port).start()
        return self

    def stop(self) -> None:
        """Stop serving (its JWKS becomes unreachable); tokens can still be minted."""
        if self.server is not None:
            self.server.stop()

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Partage development token issuer")

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return {
                "issuer": self.url,
                "jwks_uri": f"{self.url}/jwks",
                "token_endpoint": f"{self.url}/token",
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                          "client_secret_post"],
                "id_token_signing_alg_values_supported": ["RS256", "ES256", "PS256"],
            }

        @app.post("/token")
        def token(
            grant_type: Annotated[str, Form()] = "",
            client_id: Annotated[str, Form()] = "",
            client_secret: Annotated[str, Form()] = "",
            resource: Annotated[str, Form()] = "",
            authorization: Annotated[str | None, Header()] = None,
        ) -> JSONResponse:
            return self._token_answer(grant_type, client_id, client_secret, resource,
                                      authorization)

        @app.get("/jwks")
        def jwks(response: Response) -> dict[str, Any]:
            self.jwks_fetches += 1
            response.headers["Cache-Control"] = "max-age=300"
            return dict(KeySet([*self.keys.values(), *self.retired]).as_dict(private=False))

        @app.get("/health")
        def health() -> dict[str, str]:
            return {"status": "ok"}

        return app

    def register_client(self, client_id: str, secret: str = "", *,
                        roles: list[str] | None = None, audiences: list[str] | None = None,
                        lifetime_s: int = 300, **claims: Any) -> str:
        """Allow ``client_id`` the client credentials grant; its secret (a new one if none).
        Its tokens carry ``roles`` (default ``service``) and may name the issuer's audience
        or one of ``audiences``."""
        secret = secret or secrets.token_urlsafe(24)
        self.clients[client_id] = Client(
            secret, frozenset(audiences or ()) | {self.audience},
            tuple(roles if roles is not None else ["service"]), lifetime_s, claims)
        return secret

    def _token_answer(self, grant_type: str, client_id: str, client_secret: str,
                      resource: str, authorization: str | None) -> JSONResponse:
        """RFC 6749 §4.4.3 / §5: a token for an authenticated client, else the error."""
        basic = (authorization or "").partition(" ")
        if basic[0].lower() == "basic":
            try:  # RFC 6749 §2.3.1: form-encoded id and secret, then Basic
                pair = base64.b64decode(basic[2].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                pair = ""
            client_id, _, client_secret = (unquote(p) for p in pair.partition(":"))
        client = self.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.secret.encode(),
                                                     client_secret.encode()):
            challenge = {"WWW-Authenticate": 'Basic realm="partage-dev"'} if basic[2] else {}
            return _oauth_error(401, "invalid_client", "unknown client or wrong secret",
                                challenge)
        if grant_type != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type",
                                f"grant_type {grant_type!r} is not offered here")
        if resource and resource not in client.audiences:  # RFC 8707 §2
            return _oauth_error(400, "invalid_target", f"{resource!r} is not for this client")
        minted = self.token(client_id, list(client.roles), aud=resource or self.audience,
                            lifetime_s=client.lifetime_s, client_id=client_id, **client.claims)
        self.tokens_issued += 1
        return JSONResponse(
            {"access_token": minted, "token_type": "Bearer", "expires_in": client.lifetime_s},
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def rotate(self, kty: str = "RSA", keep_old: bool = False) -> Key:
        """Replace the signing key of this type; the old one stays published if ``keep_old``."""
        if keep_old:
            self.retired.append(self.keys[kty])
        self.keys[kty] = signing_key(kty)
        return self.keys[kty]

    def token(self, sub: str = "dr-martin", roles: list[str] | None = None, *,
              aud: str | list[str] | None = None, exp: int | None = None,
              alg: str = "RS256", typ: str = "at+jwt", key: Key | None = None,
              iss: str | None = None, lifetime_s: int = 300, **claims: Any) -> str:
        """Mint a signed access token; it expires ``lifetime_s`` from now unless ``exp``."""
        now = int(time.time())
        key = key or self.keys["EC" if alg.startswith("ES") else "RSA"]
        body = {
            "iss": iss or self.url, "sub": sub, "aud": aud or self.audience,
            "iat": now, "exp": exp if exp is not None else now + lifetime_s,
            "jti": uuid.uuid4().hex, "roles": roles if roles is not None else ["radiologist"],
            **claims,
        }
        return jwt.encode({"alg": alg, "kid": key.kid, "typ": typ}, body, key, algorithms=[alg])


def _oauth_error(status: int, error: str, description: str,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    """An RFC 6749 §5.2 error answer of the token endpoint."""
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={"Cache-Control": "no-store", **(headers or {})})
