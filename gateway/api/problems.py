"""HTTP errors of the gateway's REST routes as RFC 9457 ``application/problem+json``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          406: "Not Acceptable", 503: "Service Unavailable"}


class Problem(HTTPException):
    """An HTTP error with a problem document; raise it from a route."""


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": TITLES.get(status, "Error"), "status": status,
         "detail": detail},
        status_code=status, headers=headers, media_type="application/problem+json",
    )


def install(app: FastAPI) -> None:
    """Render every HTTP error of ``app`` (auth refusals included) as a problem."""

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return problem(exc.status_code, str(exc.detail), dict(exc.headers or {}))

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return problem(400, detail)

    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_invalid)
