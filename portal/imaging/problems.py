"""Why an image request could not be answered: ``ImagingProblem`` is the portal's ``Problem``
(RFC 9457 ``application/problem+json``) with a title chosen from the status, so every failure
of the image path (study not available, site unknown or suspended, gateway down or too slow)
reads the same to the browser."""

from __future__ import annotations

from portal.problems import Problem

TITLES = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
          502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class ImagingProblem(Problem):
    def __init__(self, status: int, detail: str, title: str | None = None) -> None:
        super().__init__(status, title or TITLES.get(status, "Error"), detail)
        self.detail = detail
