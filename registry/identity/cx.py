"""Patient identifiers in HL7 CX form, as XDS carries them (ITI TF-3 §4.2.3.2.21).

The XDS patientId is exactly ``id^^^&oid&ISO``: an ID, then an assigning authority given by a
universal ID of type ISO and nothing else. PID-3 in ADT is looser (a namespace ID before the OID,
an identifier type code after it): ``registry.identity.hl7`` reads those components and
``Cx.key`` gives back the strict form that the registry stores and compares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: ISO object identifier: arcs are decimal integers without leading zeros, the first one 0-2
OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
#: HL7 delimiters and control characters cannot appear inside an ID component
_ID = re.compile(r"[^\^&~|\\\x00-\x1f\x7f]{1,128}")
_STRICT = re.compile(r"(?P<id>[^\^&]+)\^\^\^&(?P<oid>[^\^&]+)&ISO")


class CxError(ValueError):
    """The text is not an identifier the registry can key a patient on."""


@dataclass(frozen=True)
class Cx:
    """A patient ID and the OID of the authority that assigned it."""

    id: str
    authority: str

    def __post_init__(self) -> None:
        if not _ID.fullmatch(self.id):
            raise CxError(f"invalid patient ID {self.id!r}")
        if not is_oid(self.authority):
            raise CxError(f"assigning authority {self.authority!r} is not an ISO OID")

    @property
    def key(self) -> str:
        """The strict XDS form ``id^^^&oid&ISO``."""
        return f"{self.id}^^^&{self.authority}&ISO"


def is_oid(text: str) -> bool:
    return len(text) <= 64 and OID.fullmatch(text) is not None


def parse_key(text: str) -> Cx:
    """Parse the strict XDS form ``id^^^&oid&ISO``; raise ``CxError`` for anything else."""
    match = _STRICT.fullmatch(text)
    if match is None:
        raise CxError(f"{text!r} is not of the form id^^^&oid&ISO")
    return Cx(match["id"], match["oid"])

