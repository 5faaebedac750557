"""The rows ``registry.crud.add_objects`` writes, as plain tuples a bulk loader can COPY.

A million entries load faster by COPY than through ITI-42, but they must be the rows ITI-42
would have written: the values come from the same ``registry.crud`` functions
(``row_values``, ``code_index``), only shaped as tuples in ``OBJECT_COLUMNS`` order.
"""

from __future__ import annotations

from registry import crud
from registry.crud import StoredObject

#: ``registry_objects`` columns filled here, in tuple order (the caller prepends ``id``)
OBJECT_COLUMNS = (
    "entry_uuid", "kind", "logical_id", "status", "xml",
    "unique_id", "patient_id", "object_type", "mime_type", "hash", "size",
    "repository_unique_id", "creation_time", "service_start_time", "service_stop_time",
    "submission_time", "source_id", "last_update_time",
    "association_type", "source_uuid", "target_uuid",
)
CODE_COLUMNS = ("object_id", "attribute", "code", "scheme")

ObjectRow = tuple[object, ...]
CodeRow = tuple[str, str, str]


def object_row(obj: StoredObject, status: str) -> tuple[ObjectRow, list[CodeRow]]:
    """The ``registry_objects`` values (``OBJECT_COLUMNS`` order) and ``object_codes``
    ``(attribute, code, scheme)`` rows of ``obj``, as ``crud.add_objects`` makes them."""
    values = crud.row_values(obj, status=status)
    return tuple(values[c] for c in OBJECT_COLUMNS), crud.code_index(obj)
