"""What a stored query finds before it is answered: light ``Hit`` rows (no XML), and the
lookups the Get… queries share (by entryUUID or uniqueId, membership, associations).

The XML of an object is read only once the whole answer is known and only for LeafClass
(``registry.queries.answer``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from ihe.ebrim import AssociationType
from registry.crud import ASSOCIATION
from registry.models import RegistryObjectRow as R
from registry.queries.filters import VISIBLE

#: bound-parameter batch for ``IN`` lists (SQLite allows 32766 variables per statement)
_BATCH = 500


class Hit(NamedTuple):
    id: int
    uuid: str
    kind: str
    patient_id: str | None
    #: the ends of an Association, ``None`` for other objects
    source: str | None
    target: str | None


_HIT_COLUMNS = (R.id, R.entry_uuid, R.kind, R.patient_id, R.source_uuid, R.target_uuid)


def hit_select(*where: ColumnElement[bool]) -> Select[Any]:
    return select(*_HIT_COLUMNS).where(*where).order_by(R.id)


def hits(session: Session, *where: ColumnElement[bool], limit: int | None = None) -> list[Hit]:
    stmt = hit_select(*where)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [Hit(*row) for row in session.execute(stmt)]


_K = TypeVar("_K", str, int)


def batches(values: Iterable[_K]) -> Iterator[list[_K]]:
    """``values`` sorted without repeats, in ``IN``-list sized chunks."""
    ordered = sorted(set(values))
    for i in range(0, len(ordered), _BATCH):
        yield ordered[i : i + _BATCH]


def hits_in(
    session: Session, column: ColumnElement[str | None], values: Iterable[str],
    *where: ColumnElement[bool],
) -> list[Hit]:
    """Visible objects whose ``column`` is one of ``values`` (batched), in insertion order."""
    found: dict[int, Hit] = {}
    for batch in batches(values):
        for hit in hits(session, column.in_(batch), VISIBLE, *where):
            found[hit.id] = hit
    return [found[k] for k in sorted(found)]


_KIND_OF_ALTERNATIVE = {
    "EntryUUID": R.entry_uuid,
    "UniqueId": R.unique_id,
    "LogicalID": R.logical_id,
}


def by_identifier(
    session: Session, kind: str, parameter: str, values: Sequence[str],
    *where: ColumnElement[bool],
) -> list[Hit]:
    """Objects of ``kind`` named by ``$…EntryUUID``, ``$…UniqueId`` or ``$…LogicalID``."""
    suffix = next(s for s in _KIND_OF_ALTERNATIVE if parameter.endswith(s))
    return hits_in(session, _KIND_OF_ALTERNATIVE[suffix], values, R.kind == kind, *where)


def associations_from(
    session: Session, sources: Iterable[str], *where: ColumnElement[bool]
) -> list[Hit]:
    return hits_in(session, R.source_uuid, sources, R.kind == ASSOCIATION, *where)


def associations_to(
    session: Session, targets: Iterable[str], *where: ColumnElement[bool]
) -> list[Hit]:
    return hits_in(session, R.target_uuid, targets, R.kind == ASSOCIATION, *where)


def associations_touching(
    session: Session, uuids: Iterable[str], *where: ColumnElement[bool]
) -> list[Hit]:
    """Associations whose source or target is one of ``uuids`` (GetAssociations)."""
    wanted = set(uuids)
    found = {h.id: h for h in associations_from(session, wanted, *where)}
    found.update((h.id, h) for h in associations_to(session, wanted, *where))
    return [found[k] for k in sorted(found)]


def associations_among(session: Session, uuids: Iterable[str]) -> list[Hit]:
    """Associations linking objects of ``uuids`` to each other, plus those linking one of them
    to such an association (a SubmissionSet's HasMember to a Folder membership)."""
    members = set(uuids)
    outgoing = associations_from(session, members)
    inner = {h.uuid for h in outgoing if h.target in members}
    return [h for h in outgoing if h.target in members or h.target in inner]


def has_member_targets(session: Session, source: str) -> list[str]:
    """The entryUUIDs a SubmissionSet or Folder holds through visible HasMember associations."""
    return list(
        session.scalars(
            select(R.target_uuid)
            .where(
                R.kind == ASSOCIATION,
                R.source_uuid == source,
                R.association_type == AssociationType.HAS_MEMBER.value,
                VISIBLE,
            )
            .order_by(R.id)
        )
    )

