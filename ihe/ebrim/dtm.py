"""HL7 DTM timestamps as XDS uses them (ITI TF-3 §4.2.3.1.5): ``YYYY[MM[DD[hh[mm[ss]]]]]``, UTC.

Stored and compared as 14-digit strings padded with the earliest instant, so that string order
is time order and ``From`` (inclusive) / ``To`` (exclusive) bounds are plain comparisons.
"""

from __future__ import annotations

import re

from ihe.errors import RemoteProtocolError

_DTM = re.compile(r"^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2})?)?)?)?)?$")
_DTM_FULL = re.compile(r"^(\d{4,14})(?:\.\d{1,4})?(?:[+-]\d{4})?$")
_FLOOR = "00000101000000"


def is_dtm(value: str) -> bool:
    return bool(_DTM.match(value))


def pad(value: str, code: str = "XDSRegistryMetadataError") -> str:
    """``20041224`` → ``20041224000000``; raise ``RemoteProtocolError(code)`` if not a DTM.
    Fractional seconds and offsets are tolerated on input and dropped."""
    match = _DTM_FULL.match(value.strip())
    if match is None or not is_dtm(match.group(1)):
        raise RemoteProtocolError(f"{value!r} is not an HL7 DTM timestamp", code)
    core = match.group(1)
    return core + _FLOOR[len(core):]
