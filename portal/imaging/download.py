"""A study as a DICOM zip (Part 10 files under ``DICOM/<series>/<sop>.dcm``) written as a
stream: each instance goes into the archive as it arrives from its gateway and the archive's
bytes leave at once, so memory stays bounded by one instance whatever the study's size.

``zipfile`` writes to an unseekable sink with data descriptors (APPNOTE 4.3.9) and switches to
ZIP64 by itself past 4 GiB or 65 535 entries; entries are stored, not deflated (DICOM pixel
data compresses poorly and deflating would cost the CPU the viewer needs).
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from collections.abc import AsyncIterator
from datetime import date

from portal.imaging.retrieve import Part10


class _Sink:
    """A write-only file for ``zipfile`` whose bytes are taken out as they are written."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


def entry_name(part: Part10) -> str:
    return f"DICOM/{part.series_instance_uid}/{part.sop_instance_uid}.dcm"


async def zip_stream(instances: AsyncIterator[Part10]) -> AsyncIterator[bytes]:
    """The archive's bytes, instance after instance, then its central directory. An error of
    ``instances`` propagates before the directory is written: the archive stays unreadable
    rather than silently short."""
    sink = _Sink()
    archive = zipfile.ZipFile(sink, mode="w",  # type: ignore[call-overload]
                              compression=zipfile.ZIP_STORED)
    async for part in instances:
        info = zipfile.ZipInfo(entry_name(part), date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_STORED
        archive.writestr(info, part.data)
        yield sink.take()
    archive.close()
    yield sink.take()


def archive_name(patient_name: str, patient_id: str, study_date: date | None) -> str:
    """``FAMILY_Given_2024-03-01.zip`` from the DICOM person name (ASCII, no separators a file
    system dislikes); the patient ID when there is no name."""
    components = [c for c in patient_name.split("=")[0].split("^")[:2] if c.strip()]
    base = "_".join(components) or patient_id or "study"
    ascii_text = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    safe = re.sub(r"[^A-Za-z0-9-]+", "_", ascii_text).strip("_") or "study"
    return f"{safe}_{study_date.isoformat()}.zip" if study_date else f"{safe}.zip"
