"""SQL predicates over ``registry_objects`` that the stored queries combine.

Every predicate runs on indexed columns: the (patient_id, kind, status) index narrows first,
coded attributes are ``EXISTS`` sub-queries on ``object_codes`` (index object_id, attribute,
code), so a query never reads XML nor scans every document.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, exists, or_, select

from ihe.ebrim import ObjectType, Status
from registry.models import ObjectCode, RegistryObjectRow as R
from registry.queries.params import Code, Parameters

#: Submitted objects are half-way through a Metadata Update: never returned (ITI TF-2a §3.18.4.1.3)
VISIBLE = R.status != Status.SUBMITTED.value


def statuses(values: Sequence[str]) -> ColumnElement[bool]:
    """``status IN (values)``, never Submitted."""
    return R.status.in_([v for v in values if v != Status.SUBMITTED])


def has_code(attribute: str, codes: Sequence[Code]) -> ColumnElement[bool]:
    """The object carries one of ``codes`` for ``attribute``."""
    return exists(
        select(ObjectCode.id).where(
            ObjectCode.object_id == R.id,
            ObjectCode.attribute == attribute,
            or_(*(and_(ObjectCode.code == c.code, ObjectCode.scheme == c.scheme) for c in codes)),
        )
    )


def has_value(attribute: str, values: Sequence[str], *, like: bool = False) -> ColumnElement[bool]:
    """The object carries one of ``values`` (free text, e.g. referenceId) for ``attribute``;
    with ``like`` the values are SQL LIKE patterns, compared case-insensitively on every
    database (authorPerson, ITI TF-2a §3.18.4.1.2.3.7.1)."""
    match = (
        or_(*(ObjectCode.code.ilike(v) for v in values))
        if like
        else ObjectCode.code.in_(list(values))
    )
    return exists(
        select(ObjectCode.id).where(
            ObjectCode.object_id == R.id, ObjectCode.attribute == attribute, match
        )
    )


def code_filters(params: Parameters, mapping: dict[str, str]) -> list[ColumnElement[bool]]:
    """One ``EXISTS`` per given parameter (per Slot for AND/OR parameters); ``mapping`` is
    parameter name → ``object_codes.attribute``."""
    out: list[ColumnElement[bool]] = []
    for name, attribute in mapping.items():
        out.extend(has_code(attribute, group) for group in params.code_groups(name))
    return out


def time_range(
    params: Parameters, column: ColumnElement[str | None], prefix: str
) -> list[ColumnElement[bool]]:
    """``{prefix}From`` ≤ column < ``{prefix}To`` (From inclusive, To exclusive)."""
    out: list[ColumnElement[bool]] = []
    low = params.time(f"{prefix}From")
    high = params.time(f"{prefix}To")
    if low is not None:
        out.append(column >= low)
    if high is not None:
        out.append(column < high)
    return out


def document_types(params: Parameters) -> ColumnElement[bool]:
    """``$XDSDocumentEntryType``: Stable and/or On-Demand; Stable only when absent."""
    types = params.strings("$XDSDocumentEntryType") or [ObjectType.STABLE_DOCUMENT.value]
    return R.object_type.in_(types)


def document_filters(params: Parameters) -> list[ColumnElement[bool]]:
    """The DocumentEntry filters shared by GetAll, GetSubmissionSetAndContents and
    GetFolderAndContents: formatCode, confidentialityCode (AND/OR) and entry type."""
    return [
        *code_filters(
            params,
            {
                "$XDSDocumentEntryFormatCode": "formatCode",
                "$XDSDocumentEntryConfidentialityCode": "confidentialityCode",
            },
        ),
        document_types(params),
    ]
