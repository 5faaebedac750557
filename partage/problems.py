"""HTTP errors of a service's REST API as RFC 9457 ``application/problem+json`` (the gateway's
and the consent service's): auth refusals, validation errors and refusals raised by routes
alike, never a bare 500 for bad input."""

from __future__ import annotations

from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

MEDIA_TYPE = "application/problem+json"


class Problem(HTTPException):
    """An HTTP error answered with a problem document; raise it from a route."""


def problem(status: int, detail: str, headers: dict[str, str] | None = None,
            **members: str) -> JSONResponse:
    """A problem document; ``members`` are extension members (RFC 9457 §3.2), e.g. ``code``."""
    return JSONResponse(
        {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
         "detail": detail, **members},
        status_code=status, headers=headers, media_type=MEDIA_TYPE,
    )


def install(app: FastAPI) -> None:
    """Render every HTTP error of ``app`` as a problem (validation errors as 400)."""

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return problem(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return problem(400, detail)

    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_invalid)
