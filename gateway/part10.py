"""The identifying UIDs and the transfer syntax of a Part 10 instance, read straight from its
bytes (PS3.10 §7.1 file meta; PS3.5 §7.1 data elements, §7.5 sequences).

The cache reads them for every instance that arrives from the PACS (to check it belongs to the
selection and to name its file). pydicom builds a ``Dataset`` of every element up to the pixel
data to give them, ~0.4 ms an instance, as long as sending the instance; the three UIDs are
among the first elements (groups 0008 and 0020), so walking the element headers up to
(0020,000E) is enough. Anything this walk does not expect (no preamble, big endian or deflated
syntaxes, lengths past the end, deep nesting) gives ``None`` and the caller asks pydicom, which
knows every corner of the standard and says what is wrong.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

IMPLICIT_LE = "1.2.840.10008.1.2"
#: syntaxes whose data set is not explicit little endian once the file meta is read
NOT_EXPLICIT_LE = {"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.1.98"}
#: explicit VRs with a 4-byte length after 2 reserved bytes (PS3.5 Table 7.1-1)
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
            b"UT", b"UV"}
UNDEFINED = 0xFFFFFFFF
SOP_INSTANCE_UID = 0x00080018
STUDY_INSTANCE_UID = 0x0020000D
SERIES_INSTANCE_UID = 0x0020000E
TRANSFER_SYNTAX_UID = 0x00020010
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
MAX_DEPTH = 8

_EXPLICIT = struct.Struct("<HH2sH")
_IMPLICIT = struct.Struct("<HHI")
_LENGTH = struct.Struct("<I")


class _Odd(Exception):
    """Something this walk does not handle: ask pydicom."""


@dataclass(frozen=True)
class Identity:
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str


def transfer_syntax(data: bytes) -> str | None:
    """The Transfer Syntax UID of the file meta, or ``None`` when it cannot be read simply."""
    try:
        return _file_meta(data)[1]
    except (_Odd, struct.error):
        return None


def identity(data: bytes) -> Identity | None:
    """Study, series and SOP Instance UIDs and the transfer syntax, or ``None`` (ask pydicom)."""
    try:
        position, syntax = _file_meta(data)
        if syntax in NOT_EXPLICIT_LE:
            return None
        found: dict[int, str] = {}
        _walk(data, position, len(data), syntax != IMPLICIT_LE, found, 0)
    except (_Odd, struct.error, UnicodeDecodeError):
        return None
    try:
        return Identity(found[STUDY_INSTANCE_UID], found[SERIES_INSTANCE_UID],
                        found[SOP_INSTANCE_UID], syntax)
    except KeyError:
        return None


def _file_meta(data: bytes) -> tuple[int, str]:
    """Where the data set starts, and the transfer syntax (group 0002 is explicit VR LE)."""
    if data[128:132] != b"DICM":
        raise _Odd("no Part 10 preamble")
    position, syntax = 132, None
    while position + 8 <= len(data):
        group, element, vr, length = _EXPLICIT.unpack_from(data, position)
        if group != 0x0002:
            break
        position, length = _value_position(data, position, vr, length)
        if (group << 16 | element) == TRANSFER_SYNTAX_UID:
            syntax = _text(data, position, length)
        position += length
    if not syntax:
        raise _Odd("no transfer syntax")
    return position, syntax


def _value_position(data: bytes, position: int, vr: bytes, short: int) -> tuple[int, int]:
    """Where an explicit-VR element's value starts, and its length."""
    if vr in LONG_VRS:
        return position + 12, _LENGTH.unpack_from(data, position + 8)[0]
    if not vr.isalpha():
        raise _Odd(f"not an explicit VR: {vr!r}")
    return position + 8, short


def _walk(data: bytes, position: int, end: int, explicit: bool, found: dict[int, str],
          depth: int) -> int:
    """Read elements from ``position`` up to ``end``, the delimiter that closes an item of
    undefined length (returned after), or, at the top level, the first tag past the series
    UID; the three UIDs are taken at the top level only."""
    while position < end:
        if explicit:
            group, element, vr, length = _EXPLICIT.unpack_from(data, position)
            tag = group << 16 | element
            if tag in (ITEM_END, SEQUENCE_END, ITEM):  # delimiters have no VR (PS3.5 §7.5)
                return position + 8
            start, length = _value_position(data, position, vr, length)
            sequence = vr == b"SQ" or (vr == b"UN" and length == UNDEFINED)
        else:
            group, element, length = _IMPLICIT.unpack_from(data, position)
            tag = group << 16 | element
            if tag in (ITEM_END, SEQUENCE_END, ITEM):
                return position + 8
            start, sequence = position + 8, length == UNDEFINED
        if depth == 0 and tag > SERIES_INSTANCE_UID:
            return position
        if length == UNDEFINED:
            if not sequence:
                raise _Odd(f"undefined length outside a sequence at {tag:08X}")
            # an undefined-length UN holds implicit VR little endian (PS3.5 §6.2.2)
            position = _skip_items(data, start, explicit and vr == b"SQ", depth + 1)
            continue
        position = start + length
        if position > len(data):
            raise _Odd("element past the end of the data")
        if depth == 0 and tag in (SOP_INSTANCE_UID, STUDY_INSTANCE_UID, SERIES_INSTANCE_UID):
            found[tag] = _text(data, start, length)
    return position


def _skip_items(data: bytes, position: int, explicit: bool, depth: int) -> int:
    """Past the items of a sequence of undefined length, to after its delimiter."""
    if depth > MAX_DEPTH:
        raise _Odd("sequences nested too deep")
    while True:
        group, element, length = _IMPLICIT.unpack_from(data, position)
        tag = group << 16 | element
        position += 8
        if tag == SEQUENCE_END:
            return position
        if tag != ITEM:
            raise _Odd(f"{tag:08X} where a sequence item was expected")
        if length == UNDEFINED:
            position = _walk(data, position, len(data), explicit, {}, depth)
            if data[position - 8:position - 4] != b"\xfe\xff\x0d\xe0":
                raise _Odd("item of undefined length without its delimiter")
        else:
            position += length
            if position > len(data):
                raise _Odd("item past the end of the data")


def _text(data: bytes, start: int, length: int) -> str:
    if start + length > len(data):
        raise _Odd("value past the end of the data")
    return data[start:start + length].decode("ascii").rstrip("\x00 ")
