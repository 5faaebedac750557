"""Requests to a site's gateway with the user's token, and what their failures mean to the
browser: unreachable → 502, too slow → 504, a gateway error (5xx) → 502 naming the site. Refusals
(4xx, e.g. 403 when the source site's consent check says no) are the gateway's to give and are
passed on as they are by the callers that forward."""

from __future__ import annotations

import json

import httpx

from portal.imaging.problems import ImagingProblem
from portal.imaging.sites import Site

DICOM_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
DICOM_JSON = "application/dicom+json"


async def send(http: httpx.AsyncClient, site: Site, path: str, token: str, *,
               accept: str | None, query: str = "", stream: bool = True) -> httpx.Response:
    """``GET {site.wado_rs_url}/{path}?{query}`` (the query string passed as the browser sent
    it) with the token; the response is open (``stream``) until the caller closes it.
    Connection failures and timeouts raise ``ImagingProblem``."""
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
    if accept:
        headers["Accept"] = accept
    url = f"{site.wado_rs_url}/{path}" + (f"?{query}" if query else "")
    request = http.build_request("GET", url, headers=headers)
    try:
        return await http.send(request, stream=stream)
    except httpx.TimeoutException:
        raise ImagingProblem(504, f"the gateway of site {site.name} did not answer in "
                                  "time") from None
    except httpx.HTTPError as exc:
        raise ImagingProblem(502, f"the gateway of site {site.name} could not be reached: "
                                  f"{type(exc).__name__}") from None


def passed_on(status: int) -> bool:
    """Whether the gateway's answer goes to the browser as it is: successes and refusals. Not
    its errors (5xx), nor a 401: the user is signed in to the portal, so a gateway refusing the
    token says the site does not trust the region's issuer, a fault of the region's setup."""
    return status < 500 and status != 401


async def failure(response: httpx.Response, site: Site) -> ImagingProblem:
    """The problem for an answer that is not 200, after reading (a bounded part of) its body."""
    try:
        body = (await response.aread())[:2000].decode("utf-8", "replace")
    except httpx.HTTPError:
        body = ""
    finally:
        await response.aclose()
    detail = _detail(body) or body.strip() or response.reason_phrase
    if response.status_code == 401:
        return ImagingProblem(502, f"the gateway of site {site.name} refused the region's "
                                   f"token: {detail}")
    if response.status_code >= 500:
        return ImagingProblem(502, f"the gateway of site {site.name} failed "
                                   f"({response.status_code}): {detail}")
    return ImagingProblem(response.status_code, f"site {site.name}: {detail}")


def _detail(body: str) -> str:
    try:
        value = json.loads(body)
    except ValueError:
        return ""
    return str(value.get("detail", "")) if isinstance(value, dict) else ""
