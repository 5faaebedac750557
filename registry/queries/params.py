"""Stored-query parameters: decoding the slot values of an AdhocQuery (ITI TF-2a §3.18.4.1.2.3.5).

Encoding rules:

* strings are quoted, ``'value'``, a quote inside doubled (``''``); numbers and timestamps may be
  unquoted;
* a multi-valued parameter is a list ``('a','b')`` that may be split across several ``Value``
  elements of one Slot (CP-ITI-295); every value of one Slot is OR-ed;
* only ``$XDSDocumentEntryEventCodeList``, ``$XDSDocumentEntryConfidentialityCode`` and
  ``$XDSFolderCodeList`` may repeat their Slot: the Slots are AND-ed (§3.18.4.1.2.3.7.1);
* coded values are ``code^^codingScheme`` (CE): a value without a scheme is refused, which is how
  the pre-2008 ``…CodeScheme`` companion parameters are refused (NIST 11897 ``old_scheme``,
  ``classcode_scheme_mismatch``);
* times are DTM; ``From`` bounds are inclusive, ``To`` bounds exclusive (§3.18.4.1.2.3.6).

Parameters a query does not know are ignored, as NIST 11897 ``practicesetting_scheme`` expects.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ihe.ebrim import Slot
from ihe.ebrim.dtm import pad
from registry.queries.errors import QueryError, fail

#: parameters whose repeated Slots are AND-ed (ITI TF-2a §3.18.4.1.2.3.7.1, .2 and .3)
AND_OR_PARAMETERS = frozenset(
    {
        "$XDSDocumentEntryEventCodeList",
        "$XDSDocumentEntryConfidentialityCode",
        "$XDSFolderCodeList",
    }
)
_SEPARATORS = " \t\r\n,()"


@dataclass(frozen=True)
class Code:
    """A CE-coded query value: ``nodeRepresentation`` and ``codingScheme``."""

    code: str
    scheme: str


def split_values(text: str, parameter: str) -> list[str]:
    """The values of a slot's concatenated text: ``('a','b')``, ``'a'``, ``20040101``…"""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _SEPARATORS:
            i += 1
        elif ch == "'":
            value: list[str] = []
            i += 1
            while True:
                if i >= n:
                    fail(QueryError.REGISTRY_ERROR, f"unterminated quote in {parameter}", parameter)
                if text[i] == "'":
                    if i + 1 < n and text[i + 1] == "'":
                        value.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                value.append(text[i])
                i += 1
            out.append("".join(value))
        else:
            start = i
            while i < n and text[i] not in _SEPARATORS and text[i] != "'":
                i += 1
            out.append(text[start:i])
    return out


def parse_code(value: str, parameter: str) -> Code:
    """``code^^scheme`` → ``Code``; anything without both parts is XDSStoredQueryParamNumber
    (the code and scheme counts differ)."""
    code, sep, scheme = value.partition("^^")
    if not sep or not code or not scheme or "^" in scheme:
        fail(
            QueryError.PARAM_NUMBER,
            f"{parameter}: {value!r} is not a code^^codingScheme value",
            parameter,
        )
    return Code(code, scheme)


class Parameters:
    """The decoded slots of one AdhocQuery, read by name with the query's cardinalities."""

    def __init__(self, slots: list[Slot]) -> None:
        self._slots: dict[str, list[list[str]]] = defaultdict(list)
        for slot in slots:
            values = split_values(",".join(slot.values), slot.name)
            self._slots[slot.name].append(values)

    def has(self, name: str) -> bool:
        return name in self._slots

    def _only_slot(self, name: str, required: bool) -> list[str] | None:
        slots = self._slots.get(name)
        if not slots:
            if required:
                fail(QueryError.MISSING_PARAM, f"required parameter {name} is missing", name)
            return None
        if len(slots) > 1:
            fail(QueryError.PARAM_NUMBER, f"parameter {name} may be given only once", name)
        if not slots[0]:
            fail(QueryError.MISSING_PARAM, f"parameter {name} has no value", name)
        return slots[0]

    def strings(self, name: str, *, required: bool = False) -> list[str] | None:
        """A multi-valued parameter (values OR-ed); ``None`` when absent."""
        return self._only_slot(name, required)

    def string(self, name: str, *, required: bool = False) -> str | None:
        """A single-valued parameter; several values are XDSStoredQueryParamNumber."""
        values = self._only_slot(name, required)
        if values is None:
            return None
        if len(values) > 1:
            fail(QueryError.PARAM_NUMBER, f"parameter {name} takes a single value", name)
        return values[0]

    def codes(self, name: str) -> list[Code] | None:
        values = self._only_slot(name, False)
        return None if values is None else [parse_code(v, name) for v in values]

    def code_groups(self, name: str) -> list[list[Code]]:
        """An AND/OR parameter: one OR-list per Slot, the Slots AND-ed."""
        if name not in AND_OR_PARAMETERS:
            codes = self.codes(name)
            return [codes] if codes else []
        groups = self._slots.get(name, [])
        if any(not group for group in groups):
            fail(QueryError.MISSING_PARAM, f"parameter {name} has no value", name)
        return [[parse_code(v, name) for v in group] for group in groups]

    def time(self, name: str) -> str | None:
        """A DTM bound, padded to 14 digits so it compares with the stored columns."""
        value = self.string(name)
        return None if value is None else pad(value, QueryError.REGISTRY_ERROR.value)

    def one_of(self, *names: str) -> tuple[str, list[str]]:
        """Exactly one of alternative multi-valued parameters (e.g. EntryUUID or UniqueId)."""
        given = [n for n in names if self.has(n)]
        if not given:
            fail(QueryError.MISSING_PARAM, f"one of {', '.join(names)} is required", names[0])
        if len(given) > 1:
            fail(QueryError.PARAM_NUMBER, f"only one of {', '.join(given)} may be given", given[1])
        values = self.strings(given[0])
        assert values is not None
        return given[0], values

    def single_of(self, *names: str) -> tuple[str, str]:
        """Exactly one of alternative single-valued parameters."""
        name, values = self.one_of(*names)
        if len(values) > 1:
            fail(QueryError.PARAM_NUMBER, f"parameter {name} takes a single value", name)
        return name, values[0]
