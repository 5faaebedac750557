"""HTTP problem details (RFC 9457) for the identity REST API.

Routes raise ``Problem``; ``ProblemRoute`` turns it, and FastAPI's request validation errors,
into ``application/problem+json`` answers, so no client ever sees a bare 500 or a stack trace
for input it got wrong.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

MEDIA_TYPE = "application/problem+json"


class ProblemDetails(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = None


class Problem(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        errors: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.body = ProblemDetails(
            title=title, status=status, detail=detail, errors=list(errors) if errors else None
        )
        self.headers = headers

    def response(self) -> JSONResponse:
        return JSONResponse(
            self.body.model_dump(exclude_none=True),
            status_code=self.body.status,
            media_type=MEDIA_TYPE,
            headers=self.headers,
        )


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for OpenAPI: these statuses answer with a problem."""
    return {
        status: {"model": ProblemDetails, "content": {MEDIA_TYPE: {}}} for status in statuses
    }


class ProblemRoute(APIRoute):
    """An APIRoute whose errors are problem documents."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Problem as exc:
                return exc.response()
            except RequestValidationError as exc:
                errors = [
                    {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))}
                    for e in exc.errors()
                ]
                return Problem(
                    422, "Invalid request", "the request does not match the schema", errors=errors
                ).response()

        return route
