"""What the serving routes do to a Part 10 instance, pure and in memory: read its header,
serve it in an accepted transfer syntax, cut its frames, render a frame, write its DICOM JSON.

Transcoding is limited to the uncompressed little-endian syntaxes (Implicit ↔ Explicit VR,
PS3.5 §A.1–A.2): a compressed instance is served only in the syntax the PACS gave it
(RAD TF-3 §4.69.4.2.3, PS3.18 §8.7.3.5).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.pixels import apply_rescale, pixel_array
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from gateway.part10 import identity, transfer_syntax

#: the syntaxes this gateway converts between
UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


class ImagingError(Exception):
    """The instance cannot be given as asked (no such frame, undecodable pixel data)."""


@dataclass(frozen=True)
class Header:
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str


def header(part10: bytes) -> Header:
    """The UIDs of a Part 10 instance, without reading its pixel data: from the element
    headers alone (``gateway.part10``, ~10 µs), else through pydicom."""
    found = identity(part10)
    if found is not None:
        return Header(found.study_instance_uid, found.series_instance_uid,
                      found.sop_instance_uid, found.transfer_syntax_uid)
    ds = dcmread(io.BytesIO(part10), stop_before_pixels=True,
                 specific_tags=["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"])
    return Header(str(ds.get("StudyInstanceUID", "")), str(ds.get("SeriesInstanceUID", "")),
                  str(ds.get("SOPInstanceUID", "")), str(ds.file_meta.TransferSyntaxUID))


def choose_syntax(stored: str, accepted: Iterable[str]) -> str | None:
    """The syntax to serve: the stored one when accepted (``*`` accepts any), else the first
    accepted uncompressed one we can convert to; ``None`` when none can be supplied."""
    accepted = [uid for uid in accepted if uid]
    if stored in accepted or "*" in accepted:
        return stored
    if stored in UNCOMPRESSED:
        return next((uid for uid in accepted if uid in UNCOMPRESSED), None)
    return None


def stored_syntax(part10: bytes) -> str:
    """The transfer syntax of a Part 10 instance, from its file meta (group 0002) only."""
    found = transfer_syntax(part10)
    if found:
        return found
    return str(dcmread(io.BytesIO(part10), stop_before_pixels=True,
                       specific_tags=["SOPInstanceUID"]).file_meta.TransferSyntaxUID)


def in_syntax(part10: bytes, syntax: str, stored: str | None = None) -> bytes:
    """The instance in ``syntax`` (one ``choose_syntax`` returned); ``stored`` is its transfer
    syntax when the caller already read it. An instance already in ``syntax`` is given back
    untouched, without parsing its pixel data."""
    if (stored if stored is not None else stored_syntax(part10)) == syntax:
        return part10
    ds = dcmread(io.BytesIO(part10))
    ds.file_meta.TransferSyntaxUID = syntax
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _frame_count(ds: Dataset) -> int:
    return int(ds.get("NumberOfFrames") or 1)


def frames(part10: bytes, numbers: list[int]) -> list[bytes]:
    """The pixel data of frames ``numbers`` (1-based) uncompressed, little endian, as PS3.18
    §8.7.3.3.2 ``application/octet-stream`` (native frames cut out, compressed ones decoded)."""
    ds = dcmread(io.BytesIO(part10))
    if "PixelData" not in ds:
        raise ImagingError("the instance has no pixel data")
    count = _frame_count(ds)
    wrong = [n for n in numbers if not 1 <= n <= count]
    if wrong:
        raise ImagingError(f"frames {wrong} out of 1..{count}")
    syntax = ds.file_meta.TransferSyntaxUID
    bits = int(ds.BitsAllocated)
    if syntax in UNCOMPRESSED and bits % 8 == 0:
        size = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel", 1)) * bits // 8
        data = ds.PixelData
        return [bytes(data[(n - 1) * size:n * size]) for n in numbers]
    try:
        decoded = [pixel_array(ds, index=n - 1, as_rgb=False) for n in numbers]
    except (RuntimeError, NotImplementedError, ValueError) as exc:
        raise ImagingError(f"cannot decode {syntax}: {exc}") from exc
    return [arr.astype(arr.dtype.newbyteorder("<")).tobytes() for arr in decoded]


def _window(ds: Dataset, arr: np.ndarray, window: tuple[float, float] | None
            ) -> tuple[float, float]:
    if window:
        return window
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is not None and width is not None:
        first = (lambda v: float(v[0]) if hasattr(v, "__len__") and not isinstance(v, str)
                 else float(v))
        return first(center), first(width)
    low, high = float(arr.min()), float(arr.max())
    return (low + high) / 2, max(high - low, 1.0)


def render(part10: bytes, number: int, media_type: str,
           window: tuple[float, float] | None = None, quality: int = 90) -> bytes:
    """Frame ``number`` (1-based) as an 8-bit JPEG or PNG (PS3.18 §8.3.5.1): modality
    rescale, then the linear VOI window of PS3.3 §C.11.2.1.2.1 (from ``window``, else the
    header's first window, else the frame's range), MONOCHROME1 inverted; colour kept."""
    ds = dcmread(io.BytesIO(part10))
    if "PixelData" not in ds:
        raise ImagingError("the instance has no pixel data")
    if not 1 <= number <= _frame_count(ds):
        raise ImagingError(f"frame {number} out of 1..{_frame_count(ds)}")
    try:
        arr = pixel_array(ds, index=number - 1)
    except (RuntimeError, NotImplementedError, ValueError) as exc:
        raise ImagingError(f"cannot decode {ds.file_meta.TransferSyntaxUID}: {exc}") from exc
    if int(ds.get("SamplesPerPixel", 1)) == 1:
        values = apply_rescale(arr, ds).astype(np.float64)
        center, width = _window(ds, values, window)
        scaled = np.clip((values - (center - 0.5)) / max(width - 1, 1) + 0.5, 0, 1) * 255
        if ds.get("PhotometricInterpretation") == "MONOCHROME1":
            scaled = 255 - scaled
        image = Image.fromarray(scaled.round().astype(np.uint8), mode="L")
    else:
        image = Image.fromarray(arr.astype(np.uint8), mode="RGB")
    out = io.BytesIO()
    if media_type == "image/png":
        image.save(out, format="PNG")
    else:
        image.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def dicom_json(part10: bytes, pixel_uri: str) -> dict[str, Any]:
    """The instance's DICOM JSON model (PS3.18 §F.2) with every attribute inline except the
    pixel data, given as a BulkDataURI (§F.2.7) to ``pixel_uri``."""
    ds = dcmread(io.BytesIO(part10))
    has_pixels = "PixelData" in ds
    if has_pixels:
        del ds.PixelData
    model = ds.to_json_dict(bulk_data_threshold=2**31 - 1, suppress_invalid_tags=True)
    if has_pixels:
        syntax = ds.file_meta.TransferSyntaxUID
        vr = "OW" if syntax in UNCOMPRESSED and int(ds.get("BitsAllocated", 8)) > 8 else "OB"
        model["7FE00010"] = {"vr": vr, "BulkDataURI": pixel_uri}
    return model

