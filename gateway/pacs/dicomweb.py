"""The PACS over DICOMweb (PS3.18): QIDO-RS queries through dicomweb-client, WADO-RS retrieval
streamed instance by instance through our own incremental multipart reader.

dicomweb-client's ``iter_study``/``iter_series`` do stream, but they decode every part into a
pydicom ``Dataset`` (the PACS's bytes are lost) and yield whatever is left when the body ends,
even without the closing boundary: a cut connection would pass for a short study. Orthanc sends
WADO-RS bodies delimited by connection close, so the closing boundary is the only proof that a
transfer is complete (RFC 2046 §5.1.1, PS3.18 §8.7.3.2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any, TypeVar

import requests
from dicomweb_client.api import DICOMwebClient
from requests.adapters import HTTPAdapter
from pydicom.dataset import Dataset

from gateway.pacs.base import (
    InstanceInfo,
    PacsError,
    PacsUnavailable,
    SeriesInfo,
    StudyInfo,
    text,
)

#: WADO-RS Accept for instances as the PACS stores them (PS3.18 §8.7.3.5.2: ``*`` = no transcoding)
ACCEPT_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'
#: WADO-RS Accept for frames as stored (PS3.18 §8.7.3.5.3)
ACCEPT_FRAMES = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'

#: QIDO-RS includefield per level (PS3.18 §10.6.1.2.2): what StudyInfo/SeriesInfo/InstanceInfo hold
STUDY_FIELDS = [
    "PatientID", "IssuerOfPatientID", "PatientName", "PatientBirthDate", "PatientSex",
    "StudyDate", "StudyTime", "AccessionNumber", "StudyDescription", "StudyID",
    "ReferringPhysicianName", "InstitutionName", "ModalitiesInStudy",
    "NumberOfStudyRelatedInstances",
]
SERIES_FIELDS = ["Modality", "SeriesNumber", "SeriesDescription", "BodyPartExamined"]
INSTANCE_FIELDS = ["SOPClassUID", "SeriesInstanceUID", "InstanceNumber", "NumberOfFrames"]

MAX_PART_HEADER_BYTES = 64 * 1024

T = TypeVar("T")


class _NotFound(PacsError):
    """HTTP 404 from a QIDO-RS or metadata call."""


class MultipartReader:
    """Incremental reader of a ``multipart/related`` body (RFC 2046 §5.1.1): feed it the body's
    chunks as they arrive, take each part's content as soon as its delimiter is seen, and call
    ``close`` at the end of the body, which fails unless the closing boundary was read.

    No I/O: only the current part and one chunk are held.
    """

    def __init__(self, boundary: bytes) -> None:
        self._delimiter = b"\r\n--" + boundary
        # a leading CRLF lets the first delimiter match like the others (the preamble is dropped)
        self._buffer = bytearray(b"\r\n")
        self._state = "preamble"
        self._search_from = 0

    def feed(self, data: bytes) -> list[bytes]:
        """The content of every part completed by ``data``, in order."""
        self._buffer += data
        parts: list[bytes] = []
        while self._step(parts):
            pass
        return parts

    def close(self) -> None:
        """The body ended: raise ``PacsError`` unless it ended with the closing boundary."""
        if self._state != "done":
            raise PacsError("multipart body ended before its closing boundary: transfer truncated")

    def _step(self, parts: list[bytes]) -> bool:
        buffer = self._buffer
        if self._state in ("preamble", "body"):
            found = buffer.find(self._delimiter, self._search_from)
            if found < 0:
                self._search_from = max(0, len(buffer) - len(self._delimiter) + 1)
                return False
            if self._state == "body":
                with memoryview(buffer) as view:
                    parts.append(view[:found].tobytes())
            del buffer[: found + len(self._delimiter)]
            self._search_from = 0
            self._state = "delimiter"
            return True
        if self._state == "delimiter":  # "--" closes the body; else padding then CRLF
            if len(buffer) < 2:
                return False
            if buffer.startswith(b"--"):
                self._state = "done"
                buffer.clear()
                return False
            end = buffer.find(b"\r\n")
            if end < 0:
                return self._check_header_size()
            del buffer[: end + 2]
            self._state = "headers"
            return True
        if self._state == "headers":
            if buffer.startswith(b"\r\n"):  # a part without header fields
                end, skip = 0, 2
            else:
                end, skip = buffer.find(b"\r\n\r\n"), 4
            if end < 0:
                return self._check_header_size()
            del buffer[: end + skip]
            self._state = "body"
            return True
        buffer.clear()  # the epilogue after the closing boundary is ignored
        return False

    def _check_header_size(self) -> bool:
        if len(self._buffer) > MAX_PART_HEADER_BYTES:
            raise PacsError("multipart part header too long: not a multipart/related body")
        return False


def boundary_of(content_type: str) -> bytes:
    """The ``boundary`` parameter of a ``multipart/related`` Content-Type (RFC 2046 §5.1.1)."""
    media_type, *params = (p.strip() for p in content_type.split(";"))
    if media_type.lower() != "multipart/related":
        raise PacsError(f"expected multipart/related, got {content_type!r}")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"').encode("latin-1")
    raise PacsError(f"multipart/related without boundary: {content_type!r}")


class DicomwebPacs:
    """The local PACS through its DICOMweb root URL (QIDO-RS, WADO-RS).

    One ``requests.Session`` (connection pool) is shared by the threads serving requests; the
    calls only read from it.
    """

    def __init__(self, url: str, *, connect_timeout: float = 5.0, read_timeout: float = 60.0,
                 chunk_size: int = 1024 * 1024, pool_size: int = 16) -> None:
        self.url = url.rstrip("/")
        self._timeout = (connect_timeout, read_timeout)
        self._chunk_size = chunk_size
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._client = DICOMwebClient(self.url, session=self._session, timeout=self._timeout)
        # failures go to the caller at once; the gateway decides whether to try again
        self._client.set_http_retry_params(retry=False)

    # -- QIDO-RS (PS3.18 §10.6) -------------------------------------------------------------

    def find_studies(
        self, *, since: date | None = None, until: date | None = None,
        study_instance_uid: str | None = None, patient_id: str | None = None,
    ) -> list[StudyInfo]:
        """Studies by StudyDate range (PS3.4 C.2.2.2.5 range matching), UID or patient ID."""
        filters: dict[str, str] = {}
        if since or until:
            filters["StudyDate"] = (f"{since:%Y%m%d}" if since else "") + "-" + (
                f"{until:%Y%m%d}" if until else "")
        if study_instance_uid:
            filters["StudyInstanceUID"] = study_instance_uid
        if patient_id:
            filters["PatientID"] = patient_id
        found = self._qido(lambda: self._client.search_for_studies(
            search_filters=filters, fields=STUDY_FIELDS, get_remaining=True))
        return [StudyInfo.from_dataset(Dataset.from_json(item)) for item in found]

    def study(self, study_instance_uid: str) -> StudyInfo | None:
        """The study with its series (series-level query) and their instances (one
        study-level instance query, PS3.18 §10.6.1 ``/studies/{uid}/instances``)."""
        studies = self.find_studies(study_instance_uid=study_instance_uid)
        if not studies:
            return None
        info = studies[0]
        series = self._qido(lambda: self._client.search_for_series(
            study_instance_uid, fields=SERIES_FIELDS, get_remaining=True))
        instances = self._qido(lambda: self._client.search_for_instances(
            study_instance_uid, fields=INSTANCE_FIELDS, get_remaining=True))
        by_uid = {s.series_instance_uid: s for s in (_series_item(item) for item in series)}
        for item in instances:
            series_uid, instance = _instance_item(item)
            parent = by_uid.setdefault(series_uid, SeriesInfo(series_uid))
            parent.instances.append(instance)
        for s in by_uid.values():
            s.instances.sort(key=lambda i: (i.instance_number is None, i.instance_number or 0))
        info.series = sorted(by_uid.values(),
                             key=lambda s: (s.series_number is None, s.series_number or 0))
        return info

    def series(self, study_instance_uid: str,
               series_instance_uid: str | None = None) -> list[SeriesInfo]:
        """The study's series (one series-level query, ``SeriesInstanceUID=…`` when given),
        without their instances; ``[]`` when the PACS has none there."""
        filters = {"SeriesInstanceUID": series_instance_uid} if series_instance_uid else None
        try:
            found = self._qido(lambda: self._client.search_for_series(
                study_instance_uid, fields=SERIES_FIELDS, search_filters=filters,
                get_remaining=True))
        except _NotFound:
            return []
        listed = [_series_item(item) for item in found]
        return [s for s in listed if series_instance_uid in (None, s.series_instance_uid)]

    def instance(self, study_instance_uid: str, series_instance_uid: str,
                 sop_instance_uid: str) -> InstanceInfo | None:
        """One instance by a targeted query (``/studies/{s}/series/{se}/instances?
        SOPInstanceUID=…``); ``None`` when the PACS does not have it there."""
        try:
            found = self._qido(lambda: self._client.search_for_instances(
                study_instance_uid, series_instance_uid, fields=INSTANCE_FIELDS,
                search_filters={"SOPInstanceUID": sop_instance_uid}))
        except _NotFound:
            return None
        for item in found:
            ds = Dataset.from_json(item)
            if text(ds, "SOPInstanceUID") == sop_instance_uid:
                return InstanceInfo.from_dataset(ds)
        return None

    # -- WADO-RS (PS3.18 §10.4) -------------------------------------------------------------

    def retrieve(
        self, study_instance_uid: str, series_instance_uid: str | None = None,
        sop_instance_uids: list[str] | None = None,
    ) -> Iterator[bytes]:
        """Part 10 bytes of the study, series or instances, one instance at a time, in the
        transfer syntax the PACS stores them in."""
        base = f"{self.url}/studies/{study_instance_uid}"
        if not sop_instance_uids:
            if series_instance_uid:
                base += f"/series/{series_instance_uid}"
            yield from self._multipart(base, ACCEPT_DICOM)
            return
        series_of = self._series_of(study_instance_uid, series_instance_uid, sop_instance_uids)
        for sop in sop_instance_uids:
            yield from self._multipart(
                f"{base}/series/{series_of[sop]}/instances/{sop}", ACCEPT_DICOM)

    def frames(self, study_instance_uid: str, series_instance_uid: str,
               sop_instance_uid: str, frame_numbers: list[int]) -> Iterator[bytes]:
        """Pixel data of the frames (1-based, PS3.18 §10.4.1.1.4), as stored: native frames
        raw, compressed ones in their encapsulated form."""
        numbers = ",".join(str(n) for n in frame_numbers)
        yield from self._multipart(
            f"{self.url}/studies/{study_instance_uid}/series/{series_instance_uid}"
            f"/instances/{sop_instance_uid}/frames/{numbers}", ACCEPT_FRAMES)

    def metadata(self, study_instance_uid: str,
                 series_instance_uid: str | None = None) -> list[dict[str, Any]]:
        """The DICOM JSON metadata of every instance (PS3.18 §10.4.1.1.2, F.2), as the PACS
        gives it; ``[]`` when it does not have the study or series."""
        try:
            if series_instance_uid:
                return self._qido(lambda: self._client.retrieve_series_metadata(
                    study_instance_uid, series_instance_uid))
            return self._qido(lambda: self._client.retrieve_study_metadata(study_instance_uid))
        except _NotFound:
            return []

    def close(self) -> None:
        self._session.close()

    # -- plumbing ---------------------------------------------------------------------------

    def _series_of(self, study: str, series: str | None, sops: list[str]) -> dict[str, str]:
        if series:
            return {sop: series for sop in sops}
        found = self._qido(lambda: self._client.search_for_instances(
            study, fields=["SeriesInstanceUID"], get_remaining=True))
        known = {str(i["00080018"]["Value"][0]): str(i["0020000E"]["Value"][0]) for i in found}
        missing = [sop for sop in sops if sop not in known]
        if missing:
            raise PacsError(f"study {study} has no instance {missing[0]}")
        return known

    def _qido(self, call: Callable[[], T]) -> T:
        """Run a dicomweb-client call, its failures turned into ours."""
        try:
            return call()
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise PacsUnavailable(f"PACS at {self.url} unreachable: {exc}") from exc
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            if status == 404:
                raise _NotFound(str(exc)) from exc
            raise PacsError(f"PACS at {self.url} answered HTTP {status}: {exc}") from exc
        except ValueError as exc:  # undecodable JSON
            raise PacsError(f"PACS at {self.url} answered an unreadable body: {exc}") from exc

    def _multipart(self, url: str, accept: str) -> Iterator[bytes]:
        """GET a multipart/related resource and yield each part as its delimiter arrives."""
        try:
            response = self._session.get(
                url, headers={"Accept": accept, "Accept-Encoding": "identity"},
                stream=True, timeout=self._timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise PacsUnavailable(f"PACS at {self.url} unreachable: {exc}") from exc
        with response:
            if response.status_code != 200:
                raise PacsError(f"WADO-RS {url}: HTTP {response.status_code} "
                                f"{response.text[:200]!r}")
            reader = MultipartReader(boundary_of(response.headers.get("Content-Type", "")))
            try:
                for chunk in response.iter_content(self._chunk_size):
                    yield from reader.feed(chunk)
            except requests.RequestException as exc:
                raise PacsUnavailable(f"PACS at {self.url} dropped the transfer: {exc}") from exc
            reader.close()


class _Irregular(Exception):
    """A QIDO item that is not plain single values: read through pydicom instead."""


def _single(item: dict[str, Any], tag: str) -> Any:
    """The one value of ``tag`` in a DICOM JSON item (``None`` when absent or empty)."""
    element = item.get(tag)
    if element is None:
        return None
    values = element.get("Value")
    if not values:
        return None
    if len(values) != 1 or isinstance(values[0], (dict, list)):
        raise _Irregular(tag)
    return values[0]


def _text(item: dict[str, Any], tag: str) -> str:
    value = _single(item, tag)
    return "" if value is None else str(value)


def _number(item: dict[str, Any], tag: str) -> int | None:
    value = _single(item, tag)
    if value is None or value == "":
        return None
    if isinstance(value, float) and not value.is_integer():
        raise _Irregular(tag)
    return int(value)


def _series_item(item: dict[str, Any]) -> SeriesInfo:
    """A series-level QIDO answer as ``SeriesInfo``, straight from its JSON (what
    ``SeriesInfo.from_dataset(Dataset.from_json(item))`` gives, without building a Dataset)."""
    try:
        return SeriesInfo(
            series_instance_uid=_text(item, "0020000E"), modality=_text(item, "00080060"),
            series_number=_number(item, "00200011"),
            series_description=_text(item, "0008103E"),
            body_part_examined=_text(item, "00180015"))
    except (_Irregular, ValueError, TypeError):
        return SeriesInfo.from_dataset(Dataset.from_json(item))


def _instance_item(item: dict[str, Any]) -> tuple[str, InstanceInfo]:
    """An instance-level QIDO answer as (series UID, ``InstanceInfo``), straight from its
    JSON."""
    try:
        return _text(item, "0020000E"), InstanceInfo(
            sop_class_uid=_text(item, "00080016"), sop_instance_uid=_text(item, "00080018"),
            instance_number=_number(item, "00200013"),
            number_of_frames=_number(item, "00280008"))
    except (_Irregular, ValueError, TypeError):
        ds = Dataset.from_json(item)
        return str(ds.SeriesInstanceUID), InstanceInfo.from_dataset(ds)
