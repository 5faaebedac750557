"""HTTP content negotiation and multipart bodies of DICOMweb (PS3.18 §8.7: Accept with
``multipart/related; type=...; transfer-syntax=...``, RFC 7231 §5.3.2 q-values; §8.7.3.1
``multipart/related`` framing, one part per instance or frame)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MediaRange:
    """One Accept entry: ``media_type`` (``multipart/related`` or a bare type), its parameters
    (``type``, ``transfer-syntax``…, names lower-cased) and its quality."""

    media_type: str
    params: dict[str, str] = field(default_factory=dict, hash=False)
    q: float = 1.0

    def matches(self, media_type: str) -> bool:
        kind, _, sub = self.media_type.partition("/")
        want_kind, _, want_sub = media_type.partition("/")
        return kind in ("*", want_kind) and sub in ("*", want_sub)


def parse_accept(value: str | None) -> list[MediaRange]:
    """The Accept header's entries, best first; an absent header accepts anything."""
    if not value or not value.strip():
        return [MediaRange("*/*")]
    ranges = []
    for entry in _split(value, ","):
        parts = _split(entry, ";")
        if not parts or not parts[0].strip():
            continue
        params: dict[str, str] = {}
        for p in parts[1:]:
            name, _, raw = p.partition("=")
            params[name.strip().lower()] = raw.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 0.0
        if q > 0:
            ranges.append(MediaRange(parts[0].strip().lower(), params, q))
    return sorted(ranges, key=lambda r: -r.q)


def _split(value: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes (``type="application/dicom"`` may hold ``/``)."""
    out, current, quoted = [], [], False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
    out.append("".join(current))
    return [s.strip() for s in out]


def negotiate_multipart(ranges: list[MediaRange], part_types: Iterable[str]
                        ) -> tuple[str, MediaRange] | None:
    """The part type to send in ``multipart/related`` and the range it satisfies, or ``None``
    (406). A bare ``*/*`` (or ``multipart/*``) takes the first of ``part_types``."""
    candidates = list(part_types)
    for r in ranges:
        if r.media_type in ("*/*", "multipart/*"):
            return candidates[0], r
        if r.media_type == "multipart/related":
            wanted = r.params.get("type", candidates[0])
            for t in candidates:
                if MediaRange(wanted).matches(t):
                    return t, r
    return None


def negotiate_single(ranges: list[MediaRange], types: Iterable[str]) -> str | None:
    """The single-part media type to send (first of ``types`` for wildcards), or ``None``."""
    candidates = list(types)
    for r in ranges:
        for t in candidates:
            if r.matches(t):
                return t
    return None


def transfer_syntaxes(chosen: MediaRange, default: str) -> list[str]:
    """Transfer syntaxes the client accepts for the chosen range (PS3.18 §8.7.3.5.2: absent
    means the media type's default)."""
    value = chosen.params.get("transfer-syntax")
    return [value] if value else [default]


class Multipart:
    """Writer of a ``multipart/related`` body whose parts all have ``part_type``."""

    def __init__(self, part_type: str) -> None:
        self.part_type = part_type
        self.boundary = uuid.uuid4().hex

    @property
    def content_type(self) -> str:
        return f'multipart/related; type="{self.part_type}"; boundary={self.boundary}'

    def head(self, location: str = "") -> bytes:
        """A part's delimiter and headers, up to the blank line before its payload."""
        head = f"--{self.boundary}\r\nContent-Type: {self.part_type}\r\n"
        if location:
            head += f"Content-Location: {location}\r\n"
        return head.encode("ascii") + b"\r\n"

    def part(self, data: bytes, location: str = "") -> bytes:
        return self.head(location) + data + b"\r\n"

    def chunks(self, data: bytes, location: str = "") -> tuple[bytes, bytes, bytes]:
        """One part as three chunks (head, payload untouched, line end): nothing copied."""
        return self.head(location), data, b"\r\n"

    def length(self, sizes: list[int]) -> int:
        """The length of the body ``stream`` makes of parts of these sizes."""
        if not sizes:
            return len(self.end())
        return sum(sizes) + len(sizes) * (len(self.head()) + 2) + len(self.end())

    def end(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode("ascii")

    def stream(self, parts: Iterable[bytes]) -> Iterator[bytes]:
        """The whole body, part by part; the closing boundary comes only after the last part,
        so an exception from ``parts`` leaves the body visibly incomplete."""
        # head and payload go out as they are (no copy of the payload); a part's closing CRLF
        # travels with the next delimiter, so each part costs two chunks
        ending = b""
        for data in parts:
            yield ending + self.head()
            yield data
            ending = b"\r\n"
        yield ending + self.end()
