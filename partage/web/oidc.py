"""A web app as an OpenID Connect relying party (authlib's Starlette client): authorization
code flow with PKCE (S256) against the configured issuer's discovery document, as a
confidential client (``client_secret_basic``), RP-initiated logout, and refresh.

The ID token proves the sign-in (signature against the issuer's JWKS, ``iss``, ``aud``,
``nonce``, ``exp``: authlib checks them). Who the user is for the region's APIs comes from the
access token, validated as every service validates it (``partage.auth.TokenValidator``): the
app forwards exactly that token, so the roles it acts on are the ones the APIs will see.
The same code works against Keycloak; only settings differ.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from weakref import WeakValueDictionary

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from partage.auth import KeysUnavailable, Principal, TokenError, TokenValidator
from partage.web.settings import WebSettings

log = logging.getLogger(__name__)


class SignInFailed(Exception):
    """The identity provider's answer did not sign the user in (shown as a page)."""


@dataclass(frozen=True)
class Credentials:
    """What a signed-in session holds (server side only): the tokens and the user they prove."""

    access_token: str
    refresh_token: str | None
    id_token: str | None
    #: the access token's ``exp`` (seconds since the epoch)
    expires_at: float
    principal: Principal


class SignIn:
    """The relying party of one app: the OAuth client and the access-token validator."""

    def __init__(self, settings: WebSettings, tokens: TokenValidator) -> None:
        self.settings = settings
        oauth = OAuth()
        self.client: StarletteOAuth2App = oauth.register(
            "idp",
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            server_metadata_url=f"{settings.issuer.rstrip('/')}/.well-known/openid-configuration",
            client_kwargs={
                "scope": settings.scope,
                "code_challenge_method": "S256",
                "token_endpoint_auth_method": "client_secret_basic",
                "timeout": settings.timeout_s,
            },
        )
        self.tokens = tokens
        self._refreshing: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    async def redirect(self, request: Request) -> Response:
        """302 to the issuer's authorization endpoint; state, nonce and the PKCE verifier are
        kept in the (server-side) session."""
        try:
            return await self.client.authorize_redirect(  # type: ignore[no-any-return]
                request, f"{self.settings.base_url}/auth/callback")
        except (httpx.HTTPError, ValueError) as exc:
            raise SignInFailed(f"the identity provider cannot be reached: {exc}") from exc

    async def complete(self, request: Request) -> Credentials:
        """Exchange the callback's code (with the PKCE verifier) and validate both tokens."""
        try:
            token = await self.client.authorize_access_token(request)
        except OAuthError as exc:
            raise SignInFailed(f"{exc.error}: {exc.description or ''}".rstrip(": ")) from exc
        except (httpx.HTTPError, JoseError, ValueError, KeyError) as exc:
            raise SignInFailed(f"the identity provider's answer was refused: {exc}") from exc
        if "userinfo" not in token:
            raise SignInFailed("the identity provider returned no ID token")
        return await self._credentials(token, previous=None)

    async def _credentials(self, token: dict[str, Any], previous: Credentials | None
                           ) -> Credentials:
        access_token = token.get("access_token")
        if not isinstance(access_token, str):
            raise SignInFailed("the identity provider returned no access token")
        try:
            principal = await run_in_threadpool(self.tokens.validate, access_token)
        except TokenError as exc:
            raise SignInFailed(f"the access token is not acceptable: {exc}") from exc
        except KeysUnavailable as exc:
            raise SignInFailed(str(exc)) from exc
        return Credentials(
            access_token=access_token,
            refresh_token=token.get("refresh_token")
            or (previous.refresh_token if previous else None),
            id_token=token.get("id_token") or (previous.id_token if previous else None),
            expires_at=float(principal.claims["exp"]),
            principal=principal,
        )

    async def refresh(self, session_id: str, current: Credentials,
                      latest: Any) -> Credentials | None:
        """New credentials from the refresh token, or ``None`` when there is none or the
        issuer refuses it (the user signs in again). One refresh per session at a time:
        ``latest()`` re-reads the session's credentials after waiting, so a request that
        waited uses what another one just obtained instead of spending a rotated token."""
        lock = self._refreshing.get(session_id)
        if lock is None:
            lock = self._refreshing[session_id] = asyncio.Lock()
        async with lock:
            now_current: Credentials | None = latest()
            if now_current is not None and now_current.access_token != current.access_token:
                return now_current
            if not current.refresh_token:
                return None
            try:
                token = await self.client.fetch_access_token(
                    grant_type="refresh_token", refresh_token=current.refresh_token)
                return await self._credentials(token, previous=current)
            except (OAuthError, httpx.HTTPError, SignInFailed, ValueError) as exc:
                log.info("refresh refused, the user signs in again",
                         extra={"reason": str(exc)})
                return None

    async def end_session_url(self, id_token: str | None) -> str | None:
        """The issuer's end_session endpoint with id_token_hint and the post-logout redirect
        (OpenID Connect RP-Initiated Logout 1.0), or ``None`` if it has none."""
        try:
            metadata = await self.client.load_server_metadata()
        except httpx.HTTPError:
            return None
        endpoint = metadata.get("end_session_endpoint")
        if not endpoint:
            return None
        params = {"post_logout_redirect_uri": f"{self.settings.base_url}/",
                  "client_id": self.settings.client_id}
        if id_token:
            params["id_token_hint"] = id_token
        return str(httpx.URL(endpoint, params=params))
