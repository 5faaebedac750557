"""HTTP problems (RFC 9457) of the portal's APIs: raise ``Problem`` anywhere under a route and
the app answers ``application/problem+json`` with its status, title and detail."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An API refusal or failure with the status and words the caller sees."""

    def __init__(self, status: int, title: str, detail: str = "",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = {"type": "about:blank", "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        return JSONResponse(body, status_code=self.status, headers=self.headers,
                            media_type=PROBLEM_JSON)


async def problem_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return exc.response()
