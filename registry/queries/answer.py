"""Turning the hits of a stored query into the objects of the AdhocQueryResponse.

ObjectRef answers carry ids only and may span patients; LeafClass answers carry the full
objects, read from their stored XML, and must stay within one patient (ITI TF-2a
§3.18.4.1.3, XDSResultNotSinglePatient). Above ``max_results`` objects the query fails with
XDSTooManyResults instead of answering a partial list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import BigInteger, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from ihe.ebrim import Identifiable, ObjectRef
from registry.crud import ASSOCIATION, answer_xml_many, stored_object
from registry.models import RegistryObjectRow
from registry.queries.errors import QueryError, fail
from registry.queries.hits import Hit

_BATCH = 500


class ReturnType(StrEnum):
    OBJECT_REF = "ObjectRef"
    LEAF_CLASS = "LeafClass"

    @classmethod
    def parse(cls, value: str) -> ReturnType:
        """ebRS 3.0 ``ResponseOption/@returnType``; RegistryObject and LeafClassWithRepositoryItem
        answer as LeafClass (a registry has no repository items)."""
        if value == "ObjectRef":
            return cls.OBJECT_REF
        if value in {"LeafClass", "LeafClassWithRepositoryItem", "RegistryObject"}:
            return cls.LEAF_CLASS
        fail(QueryError.REGISTRY_ERROR, f"unsupported returnType {value!r}", "returnType")


def unique(found: Iterable[Hit]) -> list[Hit]:
    """Hits without repeats, in first-found order."""
    seen: dict[int, Hit] = {}
    for hit in found:
        seen.setdefault(hit.id, hit)
    return list(seen.values())


def check_size(found: list[Hit], max_results: int) -> None:
    if len(found) > max_results:
        fail(
            QueryError.TOO_MANY_RESULTS,
            f"the query matches more than {max_results} objects; narrow it",
        )


@dataclass
class Answer:
    """The objects of an AdhocQueryResponse: ObjectRefs, or the stored rows of a LeafClass
    answer as ``(kind, status, xml)`` in answer order."""

    refs: list[ObjectRef] | None = None
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def objects(self) -> list[Identifiable]:
        if self.refs is not None:
            return list(self.refs)
        return [stored_object(kind, xml, status) for kind, status, xml in self.rows]

    def leaf_xml(self, prefix: str = "rim") -> bytes | None:
        """A LeafClass answer as the serialised content of a ``rim:RegistryObjectList``
        whose rim namespace prefix is ``prefix``, spliced from the stored XML: the same bytes
        as ``write_object_list(self.objects())`` would hold. ``None`` for ObjectRef answers
        and when a stored object is not in canonical form (serialise ``objects()`` then)."""
        if self.refs is not None:
            return None
        text = answer_xml_many([(xml, status) for _kind, status, xml in self.rows], prefix)
        return None if text is None else text.encode("utf-8")


def execute(
    session: Session, found: Iterable[Hit], return_type: ReturnType, max_results: int
) -> Answer:
    hits = unique(found)
    check_size(hits, max_results)
    if return_type is ReturnType.OBJECT_REF:
        return Answer(refs=[ObjectRef(id=h.uuid) for h in hits])
    patients = {h.patient_id for h in hits if h.kind != ASSOCIATION and h.patient_id}
    if len(patients) > 1:
        fail(
            QueryError.NOT_SINGLE_PATIENT,
            f"a LeafClass answer would span {len(patients)} patients; ask for ObjectRef",
        )
    rows: dict[int, tuple[str, str, str]] = {}
    ids = [h.id for h in hits]
    R = RegistryObjectRow
    columns = select(R.id, R.kind, R.status, R.xml)
    if session.get_bind().dialect.name == "postgresql":
        # one array parameter: the same statement text whatever the number of ids (prepared
        # once per connection, not re-parsed per answer size)
        batches = [columns.where(R.id == any_(bindparam("ids", ids, type_=ARRAY(BigInteger))))]
    else:
        batches = [columns.where(R.id.in_(ids[i : i + _BATCH]))
                   for i in range(0, len(ids), _BATCH)]
    for statement in batches:
        for id_, kind, status, xml in session.execute(statement):
            rows[id_] = (kind, status, xml)
    return Answer(rows=[rows[i] for i in ids])


def answer(
    session: Session, found: Iterable[Hit], return_type: ReturnType, max_results: int
) -> list[Identifiable]:
    return execute(session, found, return_type, max_results).objects()
