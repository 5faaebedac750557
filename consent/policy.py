"""A patient's sharing policy as a value, and the regional patient identifier it is keyed on.

No I/O here: ``crud`` turns rows into ``Policy`` values, ``decision`` judges requests against
them, ``fhir`` exports them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

#: an ID component of a CX: no HL7 delimiters or control characters (ITI TF-3 §4.2.3.2.21)
_ID = re.compile(r"[^\^&~|\\\x00-\x1f\x7f]{1,128}")
_CX = re.compile(r"(?P<id>[^\^&]+)\^\^\^&(?P<oid>[^\^&]+)&ISO")


class PatientIdError(ValueError):
    """The text is neither a regional INS nor its CX form."""


def regional_cx(text: str, authority: str) -> str:
    """The strict CX ``ins^^^&authority&ISO`` of a bare INS or of a CX of ``authority``; a CX of
    another authority is refused: policies are kept only for the region's patient IDs."""
    text = text.strip()
    match = _CX.fullmatch(text)
    ins, oid = (match["id"], match["oid"]) if match else (text, authority)
    if oid != authority:
        raise PatientIdError(f"{text!r} is not a regional patient ID (authority {authority})")
    if not _ID.fullmatch(ins):
        raise PatientIdError(f"{text!r} is not an INS or an INS in CX form id^^^&oid&ISO")
    return f"{ins}^^^&{authority}&ISO"


class Base(StrEnum):
    """The patient's overall choice."""

    #: follow the region's default (opt-out: shared; opt-in: not shared)
    DEFAULT = "default"
    #: share with professionals caring for me
    SHARE = "share"
    #: share with no one (emergency access aside, if allowed)
    BLOCK = "block"


class RegionDefault(StrEnum):
    OPT_OUT = "opt-out"
    OPT_IN = "opt-in"


@dataclass(frozen=True)
class Policy:
    """One version of one patient's policy; version 0 is the policy of a patient who has never
    chosen (every choice at the region's default)."""

    patient: str
    version: int = 0
    base: Base = Base.DEFAULT
    #: ``None``: the region's default
    emergency_access: bool | None = None
    hidden_studies: frozenset[str] = frozenset()
    hidden_documents: frozenset[str] = frozenset()
    blocked_sites: frozenset[str] = frozenset()
    blocked_professionals: frozenset[str] = frozenset()
    allowed_professionals: frozenset[str] = frozenset()
    author: str = ""
    author_role: str = ""
    created_at: datetime | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        both = self.blocked_professionals & self.allowed_professionals
        if both:
            raise ValueError(f"professionals both blocked and allowed: {', '.join(sorted(both))}")


def changes(before: Policy, after: Policy) -> list[str]:
    """What ``after`` changed from ``before``, in words (the history page, the audit)."""
    said: list[str] = []
    if before.base is not after.base:
        said.append(f"sharing: {before.base.value} → {after.base.value}")
    if before.emergency_access != after.emergency_access:
        def word(value: bool | None) -> str:
            return {None: "default", True: "allowed", False: "forbidden"}[value]
        said.append(f"emergency access: {word(before.emergency_access)} → "
                    f"{word(after.emergency_access)}")
    for label, old, new in (
            ("hidden studies", before.hidden_studies, after.hidden_studies),
            ("hidden documents", before.hidden_documents, after.hidden_documents),
            ("blocked sites", before.blocked_sites, after.blocked_sites),
            ("blocked professionals", before.blocked_professionals,
             after.blocked_professionals),
            ("allowed professionals", before.allowed_professionals,
             after.allowed_professionals)):
        said += [f"{label}: + {item}" for item in sorted(new - old)]
        said += [f"{label}: − {item}" for item in sorted(old - new)]
    return said
