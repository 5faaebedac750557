"""The affinity domain's code set (DESIGN.md, Identifiers; ITI TF-3 §4.2.3.1.7): which coded
values a DocumentEntry, SubmissionSet, Folder or Association may carry.

Read from NIST's ``codes.xml`` format: one ``<CodeType name=… classScheme=…>`` per coded
attribute, holding ``<Code code=… codingScheme=…/>``; the ``mimeType`` CodeType has no scheme
and lists allowed MIME types. Coded attributes the file does not govern are not restricted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ihe import xml

MIME_TYPE = "mimeType"


@dataclass(frozen=True)
class CodeSet:
    #: classification scheme UUID → allowed (code, codingScheme) pairs
    codes: dict[str, frozenset[tuple[str, str]]]
    #: classification scheme UUID → attribute name (``classCode`` …), for error messages
    names: dict[str, str]
    #: allowed mimeType values; empty: mimeType is not restricted
    mime_types: frozenset[str]

    @classmethod
    def from_file(cls, path: Path | str) -> CodeSet:
        """Parse a NIST ``codes.xml`` file."""
        root = xml.parse(Path(path).read_bytes())
        codes: dict[str, set[tuple[str, str]]] = {}
        names: dict[str, str] = {}
        mime_types: set[str] = set()
        for code_type in root.iterfind("CodeType"):
            name = code_type.get("name") or ""
            scheme = code_type.get("classScheme")
            values = [c for c in code_type.iterfind("Code") if c.get("code")]
            if name == MIME_TYPE:
                mime_types.update(c.get("code") or "" for c in values)
            elif scheme:
                names[scheme] = name
                codes.setdefault(scheme, set()).update(
                    (c.get("code") or "", c.get("codingScheme") or "") for c in values
                )
        return cls(
            codes={scheme: frozenset(pairs) for scheme, pairs in codes.items()},
            names=names,
            mime_types=frozenset(mime_types),
        )

    def governs(self, scheme: str) -> bool:
        """Whether the classification scheme ``scheme`` is restricted by this code set."""
        return scheme in self.codes

    def allows(self, scheme: str, code: str, coding_scheme: str) -> bool:
        """Whether (code, codingScheme) is an allowed value of the attribute classified by
        ``scheme``; attributes the code set does not govern accept anything."""
        allowed = self.codes.get(scheme)
        return allowed is None or (code, coding_scheme) in allowed

    def allows_mime_type(self, mime_type: str) -> bool:
        return not self.mime_types or mime_type in self.mime_types

    def name_of(self, scheme: str) -> str:
        return self.names.get(scheme, scheme)
