"""Server-side sessions: the browser's cookie holds only a random session id, signed
(itsdangerous), never a token. The data lives in an in-process store with expiry, which is
right for one process of the app (several processes behind a load balancer would need a shared
store such as Redis or the database; see partage/web/README.md).

``SessionMiddleware`` puts a ``ServerSession`` in ``scope["partage.session"]`` and its data dict
in ``scope["session"]``, where Starlette's ``request.session`` (and so authlib's OAuth client,
which keeps its state, nonce and PKCE verifier there) finds it.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, TimestampSigner
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from partage.web.settings import WebSettings

SCOPE_KEY = "partage.session"
#: itsdangerous salt of the signed session id (the cookie name and secret differ per app)
SALT = "partage.web.session"


@dataclass
class ServerSession:
    """One browser's session: its id and its data (shared by its concurrent requests)."""

    id: str
    data: dict[str, Any]
    new: bool = False
    #: ids this request retired (rotation at sign-in, clearing at sign-out)
    retired: list[str] = field(default_factory=list)

    def rotate(self) -> None:
        """Give the session a fresh id, keeping its data (at sign-in: no session fixation)."""
        self.retired.append(self.id)
        self.id = new_session_id()
        self.new = True

    def clear(self) -> None:
        """Forget everything (sign-out); the browser's cookie is expired."""
        self.data.clear()
        self.retired.append(self.id)
        self.id = new_session_id()
        self.new = True


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


class SessionStore:
    """Session data by id, each entry expiring ``max_age_s`` after its creation. Thread-safe;
    expired entries are swept as new ones are added."""

    def __init__(self, max_age_s: int) -> None:
        self.max_age_s = max_age_s
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, session_id: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._entries[session_id]
                return None
            return entry[1]

    def put(self, session_id: str, data: dict[str, Any]) -> None:
        now = time.monotonic()
        with self._lock:
            for key in [k for k, (expiry, _) in self._entries.items() if expiry <= now]:
                del self._entries[key]
            self._entries[session_id] = (now + self.max_age_s, data)

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._entries.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._entries)


class SessionMiddleware:
    """Load the session named by the signed cookie (or start an empty one), and after the
    response started: store a new or rotated session that holds data and set its cookie
    (HttpOnly, SameSite=Lax, Secure under HTTPS), drop retired ids, expire the cookie of a
    cleared one."""

    def __init__(self, app: ASGIApp, *, store: SessionStore, settings: WebSettings) -> None:
        self.app = app
        self.store = store
        self.signer = TimestampSigner(settings.session_secret, salt=SALT)
        self.cookie = settings.session_cookie
        self.max_age_s = settings.session_max_age_s
        self.secure = settings.secure

    def _load(self, scope: Scope) -> ServerSession:
        signed = HTTPConnection(scope).cookies.get(self.cookie)
        if signed:
            try:
                session_id = self.signer.unsign(signed, max_age=self.max_age_s).decode()
            except BadSignature:
                session_id = ""
            data = self.store.get(session_id) if session_id else None
            if data is not None:
                return ServerSession(session_id, data)
        return ServerSession(new_session_id(), {}, new=True)

    def _cookie(self, value: str, max_age: int) -> str:
        parts = [f"{self.cookie}={value}", "Path=/", f"Max-Age={max_age}", "HttpOnly",
                 "SameSite=Lax"]
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        session = self._load(scope)
        had_cookie = not session.new
        scope[SCOPE_KEY] = session
        scope["session"] = session.data

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for old in session.retired:
                    self.store.delete(old)
                if session.new and session.data:
                    self.store.put(session.id, session.data)
                    signed = self.signer.sign(session.id).decode()
                    headers.append("Set-Cookie", self._cookie(signed, self.max_age_s))
                elif session.new and (had_cookie or session.retired):
                    headers.append("Set-Cookie", self._cookie('""', 0))
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def server_session(connection: HTTPConnection) -> ServerSession:
    session: ServerSession = connection.scope[SCOPE_KEY]
    return session
