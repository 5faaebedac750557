"""Bearer JWT validation for every service, IHE IUA style (ITI TF-2 §3.71.4.2; RFC 9068 access
tokens; RFC 6750 bearer usage).

A token is accepted only when it is signed by a key of the one configured issuer's JWKS with
RS256, ES256 or PS256 (never ``none``, never an HMAC keyed with a public key), its ``iss`` is
byte-identical to the issuer, its ``aud`` names this service, it has not expired (``exp``, ``nbf``
with a small leeway), and its ``typ`` header, when present, is ``at+jwt`` or ``JWT``. Keys come
from the issuer's discovery document (``/.well-known/openid-configuration`` → ``jwks_uri``) or a
configured JWKS URL; they are cached and re-fetched when a token names an unknown ``kid`` (the
issuer rotated its keys), at most once per ``min_refetch_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Header, HTTPException
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key, KeySet

log = logging.getLogger(__name__)

#: Asymmetric algorithms accepted (RFC 9068 §4 requires RS256 support; ES256/PS256 as Keycloak
#: and panva offer them). HS* and ``none`` are refused before any key is looked at.
ALGORITHMS = {"RS256": "RSA", "PS256": "RSA", "ES256": "EC"}
#: ``typ`` header values accepted: RFC 9068 access tokens, and Keycloak's plain ``JWT``.
TOKEN_TYPES = {"at+jwt", "application/at+jwt", "jwt"}


class TokenError(Exception):
    """The token is not acceptable (answered 401 ``invalid_token``)."""


class KeysUnavailable(Exception):
    """The issuer's discovery document or JWKS could not be read (answered 503)."""


@dataclass(frozen=True)
class ClaimPaths:
    """Where each attribute of a ``Principal`` sits in the claims (dotted paths: Keycloak puts
    roles under ``realm_access.roles``; IUA under ``extensions.ihe_iua.*``)."""

    roles: str = "roles"
    rpps: str = "rpps"
    organisation: str = "organisation"
    purpose_of_use: str = "purpose_of_use"
    name: str = "name"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the validated token says."""

    subject: str
    roles: frozenset[str] = frozenset()
    rpps: str = ""
    organisation: str = ""
    purpose_of_use: str = ""
    name: str = ""
    claims: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def purpose(self) -> str:
        """The purpose of use the caller acts for: the token's, or treatment (HL7 TREAT) when
        it names none — what the decision point is asked about and the audits record."""
        return self.purpose_of_use or "TREAT"


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path of the claims, or ``None``."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _text(value: Any) -> str:
    """A claim as text: strings as they are, IUA Coding objects by their ``code``."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return str(value.get("code") or value.get("display") or "")
    if isinstance(value, list) and value:
        return _text(value[0])
    return ""


def principal_from(claims: Mapping[str, Any], paths: ClaimPaths) -> Principal:
    roles = claim_at(claims, paths.roles)
    if isinstance(roles, str):
        roles = roles.split()
    return Principal(
        subject=str(claims.get("sub") or ""),
        roles=frozenset(r for r in roles or () if isinstance(r, str)),
        rpps=_text(claim_at(claims, paths.rpps)),
        organisation=_text(claim_at(claims, paths.organisation)),
        purpose_of_use=_text(claim_at(claims, paths.purpose_of_use)),
        name=_text(claim_at(claims, paths.name)),
        claims=dict(claims),
    )


class JwksCache:
    """The issuer's public keys, fetched lazily and re-fetched on an unknown ``kid`` (rate
    limited to one fetch per ``min_refetch_s``). Thread-safe."""

    def __init__(self, issuer: str, jwks_url: str = "", *, timeout: float = 5.0,
                 min_refetch_s: float = 30.0) -> None:
        self.issuer = issuer
        self.jwks_url = jwks_url
        self.timeout = timeout
        self.min_refetch_s = min_refetch_s
        self._keys: KeySet | None = None
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def key(self, kid: str | None, kty: str) -> Key:
        """The key a token names; ``TokenError`` when the issuer has no such key."""
        with self._lock:
            if self._keys is None:
                self._refresh()
            key = self._find(kid, kty)
            if key is None and time.monotonic() - self._fetched_at >= self.min_refetch_s:
                log.info("unknown key id, re-fetching the JWKS", extra={"kid": kid})
                self._refresh()
                key = self._find(kid, kty)
        if key is None:
            raise TokenError(f"no {kty} key with kid {kid!r} in the issuer's JWKS")
        return key

    def _find(self, kid: str | None, kty: str) -> Key | None:
        assert self._keys is not None
        candidates = [k for k in self._keys if k.key_type == kty
                      and (kid is None or k.kid == kid) and k.get("use", "sig") == "sig"]
        # without a kid the choice must be unambiguous (RFC 7515 §4.1.4)
        return candidates[0] if len(candidates) == 1 else None

    def _refresh(self) -> None:
        self._fetched_at = time.monotonic()
        try:
            with httpx.Client(timeout=self.timeout) as client:
                url = self.jwks_url or self._discover(client)
                answer = client.get(url)
                answer.raise_for_status()
                self._keys = KeySet.import_key_set(answer.json())
        except (httpx.HTTPError, ValueError, JoseError) as exc:
            raise KeysUnavailable(f"cannot read the JWKS of {self.issuer}: {exc}") from exc

    def _discover(self, client: httpx.Client) -> str:
        """``jwks_uri`` of the discovery document, whose ``issuer`` must be ours (OpenID
        Connect Discovery 1.0 §4.3)."""
        answer = client.get(f"{self.issuer.rstrip('/')}/.well-known/openid-configuration")
        answer.raise_for_status()
        document = answer.json()
        if document.get("issuer") != self.issuer:
            raise ValueError(f"discovery document names issuer {document.get('issuer')!r}")
        return str(document["jwks_uri"])


class TokenValidator:
    """Validate bearer JWTs of one issuer for one audience."""

    def __init__(self, issuer: str, audience: str, keys: JwksCache | None = None, *,
                 claim_paths: ClaimPaths = ClaimPaths(), leeway_s: int = 30) -> None:
        self.issuer = issuer
        self.audience = audience
        self.keys = keys or JwksCache(issuer)
        self.claim_paths = claim_paths
        self.leeway_s = leeway_s

    def validate(self, token: str) -> Principal:
        """The caller the token proves; ``TokenError`` if it does not, ``KeysUnavailable``
        when the issuer's keys cannot be read."""
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError, UnicodeError) as exc:
            raise TokenError(f"malformed token: {exc}") from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise TokenError(f"algorithm {alg!r} is not accepted")
        typ = header.get("typ")
        if typ is not None and str(typ).lower() not in TOKEN_TYPES:
            raise TokenError(f"token type {typ!r} is not an access token")
        key = self.keys.key(header.get("kid"), ALGORITHMS[alg])
        try:
            decoded = jwt.decode(token, key, algorithms=[alg])
            jwt.JWTClaimsRegistry(
                leeway=self.leeway_s,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": self.audience},
                exp={"essential": True},
                sub={"essential": True},
            ).validate(decoded.claims)
        except JoseError as exc:
            raise TokenError(f"{exc.error}: {exc.description or ''}".rstrip(": ")) from exc
        return principal_from(decoded.claims, self.claim_paths)


def _challenge(error: str | None = None, description: str = "") -> dict[str, str]:
    """``WWW-Authenticate`` of RFC 6750 §3: no error code when no token was sent."""
    value = 'Bearer realm="partage"'
    if error:
        value += f', error="{error}"'
        if description:
            value += ', error_description="{}"'.format(description.replace('"', "'"))
    return {"WWW-Authenticate": value}


class Refusal(Exception):
    """Why a request's bearer token was not accepted: the HTTP status (401, or 503 when the
    issuer's keys cannot be read), a reason and the headers to answer with (RFC 6750 §3)."""

    def __init__(self, status: int, reason: str, headers: dict[str, str]) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers


def authenticate(validator: TokenValidator, authorization: str | None) -> Principal:
    """The caller an ``Authorization`` header value proves, or ``Refusal``. Blocking (it may
    fetch the JWKS): async callers run it in a thread."""
    if not authorization:
        raise Refusal(401, "a bearer token is required", _challenge())
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refusal(401, "the Authorization header is not a bearer token",
                      _challenge("invalid_request"))
    try:
        return validator.validate(token.strip())
    except TokenError as exc:
        raise Refusal(401, f"invalid token: {exc}",
                      _challenge("invalid_token", str(exc))) from exc
    except KeysUnavailable as exc:
        log.error("token keys unavailable", extra={"reason": str(exc)})
        raise Refusal(503, "the token issuer's keys cannot be read now",
                      {"Retry-After": "30"}) from exc


def bearer(validator: TokenValidator) -> Callable[..., Principal]:
    """A FastAPI dependency: the request's ``Principal``, or 401 (RFC 6750 §3.1) / 503 when
    the issuer's keys are unreachable. Sync: FastAPI runs it in a thread (JWKS fetches)."""

    def dependency(authorization: Annotated[str | None, Header()] = None) -> Principal:
        try:
            return authenticate(validator, authorization)
        except Refusal as exc:
            raise HTTPException(exc.status, exc.reason, headers=exc.headers) from exc

    return dependency
