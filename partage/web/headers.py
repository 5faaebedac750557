"""Security headers on every answer of the portal: a Content Security Policy that lets the
viewer run (same-origin module workers, WebAssembly codecs need ``'wasm-unsafe-eval'``) and
nothing foreign run, no framing, no sniffing, and no caching of pages that show patient data."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: paths whose answers are static assets, cacheable
ASSET_PREFIXES = ("/static/", "/viewer/")


def content_security_policy(issuer: str) -> str:
    """The policy; ``form-action`` names the issuer too, because the sign-out form's answer
    redirects there and browsers apply ``form-action`` to that redirect."""
    parts = urlsplit(issuer)
    issuer_origin = f"{parts.scheme}://{parts.netloc}"
    return "; ".join([
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "worker-src 'self' blob:",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        f"form-action 'self' {issuer_origin}",
    ])


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, issuer: str) -> None:
        self.app = app
        self.headers = {
            "Content-Security-Policy": content_security_policy(issuer),
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
            "Cross-Origin-Opener-Policy": "same-origin",
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        asset = str(scope.get("path", "")).startswith(ASSET_PREFIXES)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
                if not asset:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, with_headers)
