"""A development token issuer for the demo, the benchmarks and the tests: an HTTP app publishing
an OpenID Connect discovery document and a JWKS (one RSA and one EC P-256 signing key made with
joserfc), and a mint function for RFC 9068 access tokens (``typ: at+jwt``). Keys live in memory
and can be rotated. It has no login and no token endpoint: never expose it beyond loopback.

    with DevIssuer.running(audience="partage") as issuer:
        token = issuer.token(sub="dr-house", roles=["radiologist"])
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Response
from joserfc import jwt
from joserfc.jwk import ECKey, Key, KeySet, RSAKey

from partage.serve import BackgroundServer


def signing_key(kty: str) -> Key:
    """A fresh signing key (``RSA`` 2048 or ``EC`` P-256) with a random ``kid``."""
    params = {"kid": f"{kty.lower()}-{uuid.uuid4().hex[:8]}", "use": "sig"}
    if kty == "EC":
        return ECKey.generate_key("P-256", parameters=params)
    return RSAKey.generate_key(2048, parameters=params)


class DevIssuer:
    """The issuer's keys and HTTP app; ``jwks_fetches`` counts JWKS downloads."""

    def __init__(self, audience: str = "partage") -> None:
        self.audience = audience
        self.keys: dict[str, Key] = {"RSA": signing_key("RSA"), "EC": signing_key("EC")}
        self.retired: list[Key] = []
        self.jwks_fetches = 0
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
                "id_token_signing_alg_values_supported": ["RS256", "ES256", "PS256"],
            }

        @app.get("/jwks")
        def jwks(response: Response) -> dict[str, Any]:
            self.jwks_fetches += 1
            response.headers["Cache-Control"] = "max-age=300"
            return dict(KeySet([*self.keys.values(), *self.retired]).as_dict(private=False))

        @app.get("/health")
        def health() -> dict[str, str]:
            return {"status": "ok"}

        return app

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
