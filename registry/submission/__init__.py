"""ITI-42 Register Document Set-b and ITI-57 Update Document Set (availabilityStatus) in the
registry: validate the whole submission first, then write it in one transaction.

Registration is all or nothing (ITI TF-2b §3.42.4.1.3): any error leaves the database as it
was, and every error found is reported, not just the first.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ihe.ebrim import RegistryError, SubmitObjectsRequest
from partage.db import Database
from registry.codes import CodeSet
from registry.submission.lifecycle import (
    DUPLICATE_IN_REGISTRY,
    apply,
    check_registration,
    check_update,
)
from registry.submission.metadata import check_metadata, drop_extra_slots
from registry.submission.model import Problems, read_submission, resolve_ids

log = logging.getLogger(__name__)

__all__ = ["Policy", "register", "update_status", "utc_now"]


@dataclass(frozen=True)
class Policy:
    """The registry's choices the TF leaves open: which codes are allowed (None: any) and
    whether extra metadata is kept (ITI TF-3 §4.1.14)."""

    codes: CodeSet | None = None
    store_extra_metadata: bool = True


class _Rejected(Exception):
    """Raised inside the transaction so that nothing of a refused submission is kept."""


def utc_now() -> str:
    """Now as a 14-digit UTC DTM, the precision Folder lastUpdateTime is kept at."""
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S")


def _new_uuid() -> str:
    return str(uuid.uuid4())


def _submit(
    db: Database,
    request: SubmitObjectsRequest,
    policy: Policy,
    *,
    update: bool,
    now: str | None,
    new_id: Callable[[], str],
    in_place: bool,
) -> list[RegistryError]:
    problems = Problems()
    submission = read_submission(request, problems, in_place=in_place)
    if submission is None:
        return problems
    check_metadata(submission, policy.codes, problems)  # cites the source's own ids
    if not policy.store_extra_metadata:
        drop_extra_slots(submission, problems)
    resolve_ids(submission, new_id, problems)
    try:
        with db.session() as session:
            plan = (
                check_update(session, submission, problems)
                if update
                else check_registration(session, submission, new_id, problems)
            )
            if problems.failed:
                raise _Rejected
            apply(session, plan, now or utc_now())
    except _Rejected:
        pass
    except IntegrityError:
        # a concurrent submission took one of our entryUUIDs or package uniqueIds between
        # check and write
        problems.error(
            DUPLICATE_IN_REGISTRY, "an entryUUID or uniqueId of this submission was just registered"
        )
    except SQLAlchemyError:
        log.exception("registry database error")
        problems.error("XDSRegistryError", "the registry could not store the submission")
    return problems


def register(
    db: Database,
    request: SubmitObjectsRequest,
    policy: Policy,
    *,
    now: str | None = None,
    new_id: Callable[[], str] = _new_uuid,
    in_place: bool = False,
) -> list[RegistryError]:
    """ITI-42: register ``request``; return its errors and warnings (empty: all stored).
    ``in_place``: ``request`` was parsed for this call only, its objects are rewritten (symbolic
    ids resolved) instead of copied first."""
    return _submit(
        db, request, policy, update=False, now=now, new_id=new_id, in_place=in_place
    )


def update_status(
    db: Database,
    request: SubmitObjectsRequest,
    policy: Policy,
    *,
    now: str | None = None,
    new_id: Callable[[], str] = _new_uuid,
    in_place: bool = False,
) -> list[RegistryError]:
    """ITI-57 availabilityStatus update (UpdateAvailabilityStatus associations)."""
    return _submit(
        db, request, policy, update=True, now=now, new_id=new_id, in_place=in_place
    )
