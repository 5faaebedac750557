"""The steps every serving route takes, in order: authorize the caller for the study (403, or
503 when the consent service cannot answer; audited by ``gateway.access``), resolve the UIDs on
the PACS (404), and start the transfer before answering, so a PACS that is down gives 503
rather than a broken body. Once the first part is out, a failure aborts the
connection (the client sees an incomplete chunked body, never a short success)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TypeVar

from fastapi import HTTPException

from gateway.access import Access
from gateway.api.deps import GatewayContext
from gateway.cache import InstanceCache
from gateway.pacs import Pacs, PacsError, PacsUnavailable
from gateway.retrieve import NotFound, Selection, cached, read, select
from ihe.atna.enum import RAD_107, Code
from partage.auth import Principal
from partage.consent import ConsentUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


#: EventTypeCode of a WADO-URI retrieve (RAD TF-2 §4.55)
RAD_55: Code = ("RAD-55", "IHE Transactions", "WADO Retrieve")


def permit(access: Access, principal: Principal, study_uid: str,
           transaction: Code = RAD_107) -> None:
    """403 unless ``gateway.access`` permits this caller to read this study (the detail is the
    decision point's reason, which never names hidden content); 503 when the consent service
    cannot answer. Audited either way (once per window)."""
    try:
        decision = access.authorize(principal, study_uid)
    except ConsentUnavailable as exc:
        log.error("consent service unavailable: access refused",
                  extra={"sub": principal.subject, "study": study_uid, "reason": str(exc)})
        raise HTTPException(503, "the consent service is unavailable; retry later",
                            headers={"Retry-After": "5"}) from exc
    access.audit(principal, study_uid, decision, transaction)
    if not decision.permit:
        log.info("access refused", extra={"sub": principal.subject, "study": study_uid,
                                          "reason": decision.code})
        raise HTTPException(403, f"access to study {study_uid} refused: {decision.reason}")


def pacs_failure(exc: PacsError) -> HTTPException:
    if isinstance(exc, PacsUnavailable):
        return HTTPException(503, f"the site PACS is unavailable: {exc}",
                             headers={"Retry-After": "30"})
    return HTTPException(502, f"the site PACS failed: {exc}")


def resolve(pacs: Pacs, study_uid: str, series_uid: str | None = None,
            sop_uid: str | None = None, cache: InstanceCache | None = None) -> Selection:
    try:
        return select(pacs, study_uid, series_uid, sop_uid, cache)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except PacsError as exc:
        raise pacs_failure(exc) from exc


def started(parts: Iterator[T]) -> Iterator[T]:
    """``parts`` with its first item already produced (errors so far become HTTP errors); later
    failures propagate out of the response body and abort it."""
    try:
        first = next(parts)
    except StopIteration:
        raise HTTPException(404, "the PACS returned no instance") from None
    except PacsError as exc:
        raise pacs_failure(exc) from exc

    def rest() -> Iterator[T]:
        yield first
        try:
            yield from parts
        except Exception:
            log.exception("transfer aborted after the response started")
            raise

    return rest()


def instance(ctx: GatewayContext, study_uid: str, series_uid: str, sop_uid: str) -> bytes:
    """The Part 10 bytes of one instance (instance-level routes): from the cache when it holds
    it, else resolved on the PACS (404) and read through the cache."""
    data = cached(ctx.cache, study_uid, series_uid, sop_uid)
    if data is not None:
        return data
    parts = read(ctx.pacs, ctx.cache,
                 resolve(ctx.pacs, study_uid, series_uid, sop_uid, ctx.cache))
    try:
        return next(parts)[1]
    except StopIteration:
        raise HTTPException(404, "the PACS returned no instance") from None
    except PacsError as exc:
        raise pacs_failure(exc) from exc
    finally:
        parts.close()
