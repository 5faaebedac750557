"""Reads and writes of the ``documents`` table."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from repository.models import StoredDocument


def by_unique_id(session: Session, unique_ids: Iterable[str]) -> dict[str, StoredDocument]:
    wanted = sorted(set(unique_ids))
    if not wanted:
        return {}
    rows = session.scalars(select(StoredDocument).where(StoredDocument.unique_id.in_(wanted)))
    return {row.unique_id: row for row in rows}


def add(session: Session, document: StoredDocument) -> None:
    session.add(document)
    session.flush()
