"""The rows ``registry.crud.add_objects`` writes, built without a Session so they can be
bulk-inserted.

``add_objects`` inserts one submission in two statements: right for a submission, but a
million entries go faster by COPY. ``RowBuilder`` computes the same values with the same
``registry.crud`` functions (``row_values``, ``code_index``), as plain tuples.

Serialising the canonical XML with lxml is most of the cost (~1.3 ms for a KOS entry here), and
synthetic objects come in a handful of shapes that differ only in their strings. So the first
object of each shape is serialised by ``crud.object_xml`` with every string replaced by a marker,
which gives a template; later objects of that shape fill it in. Every ``check_every``-th object
is also serialised the slow way and compared, so a change in ``ihe`` or ``crud`` stops the load
instead of silently writing other rows than ITI-42 would.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

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

_MARKER = re.compile(r"QzQ(\d+)QzQ")
#: characters whose escaping differs between XML text and attributes: such values go slow
_UNTEMPLATABLE = re.compile(r'["\n\r\t]')


_FIELDS: dict[type, tuple[str, ...]] = {}


def _walk(node: Any, shape: list[object], values: list[str]) -> None:
    """Append dataclass ``node``'s structure to ``shape`` and its non-empty strings to
    ``values`` (depth first, in field order). Hot loop: leaves are handled inline."""
    kind = type(node)
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(node))
    shape.append(kind)
    for name in names:
        value = getattr(node, name)
        if isinstance(value, str):
            if value:
                values.append(value)
            else:
                shape.append("")
        elif isinstance(value, list):
            shape.append(len(value))
            for item in value:
                if isinstance(item, str):
                    if item:
                        values.append(item)
                    else:
                        shape.append("")
                else:
                    _walk(item, shape, values)
        else:
            shape.append(value)  # None, bool, int


def _marked(node: Any, counter: list[int]) -> Any:
    """A copy of ``node`` whose non-empty strings are numbered markers, in ``_walk`` order."""
    if isinstance(node, str):
        if not node:
            return node
        counter[0] += 1
        return f"QzQ{counter[0] - 1}QzQ"
    if isinstance(node, list):
        return [_marked(item, counter) for item in node]
    if dataclasses.is_dataclass(node):
        changes = {f.name: _marked(getattr(node, f.name), counter)
                   for f in dataclasses.fields(node)}
        return dataclasses.replace(node, **changes)
    return node


def _escape(value: str) -> str:
    if "&" not in value and "<" not in value and ">" not in value:
        return value
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class RowBuilder:
    """``object_row`` for many objects: ``crud``'s columns and code index, templated XML."""

    def __init__(self, check_every: int = 1000) -> None:
        self.check_every = check_every
        self.templates: dict[tuple[object, ...], tuple[list[str], list[int]]] = {}
        self.built = 0

    def xml(self, obj: StoredObject) -> str:
        """``crud.object_xml(obj)``, from a template when ``obj``'s shape has one."""
        bare = dataclasses.replace(obj, status=None)
        shape: list[object] = []
        values: list[str] = []
        _walk(bare, shape, values)
        if any(_UNTEMPLATABLE.search(v) for v in values):
            return crud.object_xml(obj)
        key = tuple(shape)
        new = key not in self.templates
        if new:
            pieces = _MARKER.split(crud.object_xml(_marked(bare, [0])))
            self.templates[key] = (pieces[0::2], [int(i) for i in pieces[1::2]])
        texts, order = self.templates[key]
        out = [texts[0]]
        for text, index in zip(texts[1:], order):
            out.append(_escape(values[index]))
            out.append(text)
        xml = "".join(out)
        self.built += 1
        if (new or self.built % self.check_every == 0) and xml != crud.object_xml(obj):
            raise AssertionError(f"templated XML of {obj.id} differs from crud.object_xml")
        return xml

    def row(self, obj: StoredObject, status: str) -> tuple[ObjectRow, list[CodeRow]]:
        """The ``registry_objects`` values (``OBJECT_COLUMNS`` order) and ``object_codes``
        ``(attribute, code, scheme)`` rows of ``obj``, as ``crud.add_objects`` makes them."""
        values = crud.row_values(obj, status=status, xml=self.xml(obj))
        return tuple(values.get(c) for c in OBJECT_COLUMNS), crud.code_index(obj)
