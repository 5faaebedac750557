"""Turning the hits of a stored query into the objects of the AdhocQueryResponse.

ObjectRef answers carry ids only and may span patients; LeafClass answers carry the full
objects, read from their stored XML, and must stay within one patient (ITI TF-2a
§3.18.4.1.3, XDSResultNotSinglePatient). Above ``max_results`` objects the query fails with
XDSTooManyResults instead of answering a partial list.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from ihe.ebrim import Identifiable, ObjectRef
from registry.crud import ASSOCIATION, row_to_object
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


def answer(
    session: Session, found: Iterable[Hit], return_type: ReturnType, max_results: int
) -> list[Identifiable]:
    hits = unique(found)
    check_size(hits, max_results)
    if return_type is ReturnType.OBJECT_REF:
        return [ObjectRef(id=h.uuid) for h in hits]
    patients = {h.patient_id for h in hits if h.kind != ASSOCIATION and h.patient_id}
    if len(patients) > 1:
        fail(
            QueryError.NOT_SINGLE_PATIENT,
            f"a LeafClass answer would span {len(patients)} patients; ask for ObjectRef",
        )
    rows: dict[int, RegistryObjectRow] = {}
    ids = [h.id for h in hits]
    for i in range(0, len(ids), _BATCH):
        for row in session.scalars(
            select(RegistryObjectRow).where(RegistryObjectRow.id.in_(ids[i : i + _BATCH]))
        ):
            rows[row.id] = row
    return [row_to_object(rows[i]) for i in ids]
