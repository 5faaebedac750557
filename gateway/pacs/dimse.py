"""The DIMSE adapter: the local PACS through pynetdicom (PS3.4 Annex C, Query/Retrieve).

Queries are Study Root C-FINDs at STUDY, SERIES and IMAGE level (PS3.4 C.6.2), hierarchical:
each level names the unique keys of the levels above it. Retrieval is a C-GET whose C-STORE
sub-operations arrive on the same association (PS3.4 C.4.3; the SCP role is negotiated per SOP
class, PS3.7 D.3.3.4), or a C-MOVE to this gateway's own C-STORE SCP, whose sub-operations carry
our C-MOVE's Message ID as Move Originator Message ID (PS3.7 9.1.1.1) and are routed back by
``MoveRouter``.

``retrieve`` streams: each instance goes through an ``InstanceQueue`` bounded in bytes. While the
consumer is slow the C-STORE handler blocks, so no C-STORE response leaves and the PACS, which
waits for it before its next sub-operation, holds back the rest of the study. The end of the
transfer is checked (final status, failed sub-operations, count of instances received against
the count the C-FINDs announced): any shortfall raises ``PacsError`` after what was yielded.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, Association, build_context, build_role, evt
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from gateway.core.config import GatewaySettings
from gateway.pacs.base import (
    InstanceInfo,
    PacsError,
    PacsUnavailable,
    SeriesInfo,
    StudyInfo,
    number,
    text,
    values,
)

LOGGER = logging.getLogger(__name__)

#: transfer syntaxes accepted for C-GET sub-operations: uncompressed and the common compressed
#: ones (PS3.5 Annex A), so the PACS can send what it holds without transcoding
RETRIEVE_TRANSFER_SYNTAXES: tuple[str, ...] = (
    ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian,
    JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLosslessSV1, JPEGLossless, JPEGLSLossless,
    JPEGLSNearLossless, JPEG2000Lossless, JPEG2000, RLELossless,
)
#: an association proposes at most 128 presentation contexts (PS3.8 9.3.2.2: odd IDs 1-255)
MAX_CONTEXTS = 128
#: C-FIND/C-GET/C-MOVE statuses (PS3.4 C.4.1.1.4, C.4.2.1.5, C.4.3.1.4)
SUCCESS, PENDING, PENDING_WARNING = 0x0000, 0xFF00, 0xFF01
#: PS3.5 9.1: a UID is digits and dots, at most 64 characters
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
#: characters with a matching meaning in a C-FIND key (PS3.4 C.2.2.2.4, wild card matching)
_WILDCARDS = re.compile(r"[*?\\]")


def set_nodelay(event: evt.Event) -> None:
    """EVT_CONN_OPEN: disable Nagle's algorithm, or every small PDU (a C-STORE response, a
    pending status) waits ~40 ms for the peer's delayed ACK."""
    sock = event.assoc.dul.socket.socket if event.assoc.dul.socket else None
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _wake_on_close(event: evt.Event) -> None:
    """EVT_CONN_CLOSE: wake a thread waiting for a DIMSE message at once (pynetdicom would only
    notice the lost connection when its DIMSE timeout expires)."""
    event.assoc.dimse.msg_queue.put((None, None))


def park_reactor(assoc: Association, settle_s: float = 0.005) -> None:
    """Make sure the association's reactor thread is blocked before we send a request.

    pynetdicom 3.0's ``send_c_*`` pause the reactor by clearing a checkpoint and waiting for an
    ``_is_paused`` flag that the reactor raises *before* it blocks; a reactor caught between the
    flag and the block can take the peer's first response off the queue ("Received unexpected
    C-FIND service message"), and the request then waits out its DIMSE timeout. Clearing the
    checkpoint ourselves and letting the reactor settle on it closes that window; the
    ``send_c_*`` call then finds it parked and releases it when done."""
    assoc._reactor_checkpoint.clear()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        if assoc._is_paused:
            time.sleep(settle_s)  # a stale flag is raised again only once it is really parked
            if assoc._is_paused:
                return
        time.sleep(0.0005)


def check_uid(value: str) -> str:
    if len(value) > 64 or not _UID.match(value):
        raise ValueError(f"not a DICOM UID: {value!r}")
    return value


class InstanceQueue:
    """Hand-off of Part 10 instances from the thread receiving them to the consumer, bounded in
    bytes (one instance is always admitted, however large). The producer ends it with
    ``finish(error)``; the consumer's iteration then stops, or raises the error."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._items: deque[bytes] = deque()
        self._size = 0
        self._cond = threading.Condition()
        self._finished = False
        self._error: PacsError | None = None
        self.cancelled = False
        #: instances accepted so far
        self.count = 0

    def put(self, data: bytes) -> bool:
        """Block while full; ``False`` when the consumer has gone (nothing was queued)."""
        with self._cond:
            while self._items and self._size + len(data) > self._max_bytes and not self.cancelled:
                self._cond.wait()
            if self.cancelled or self._finished:
                return False
            self._items.append(data)
            self._size += len(data)
            self.count += 1
            self._cond.notify_all()
            return True

    def finish(self, error: PacsError | None = None) -> None:
        with self._cond:
            if not self._finished:
                self._finished, self._error = True, error
            self._cond.notify_all()

    def cancel(self) -> None:
        """The consumer stops reading: release blocked producers, refuse further instances."""
        with self._cond:
            self.cancelled = True
            self._items.clear()
            self._size = 0
            self._cond.notify_all()

    def __iter__(self) -> Iterator[bytes]:
        while True:
            with self._cond:
                while not self._items and not self._finished:
                    self._cond.wait()
                if not self._items:
                    if self._error is not None:
                        raise self._error
                    return
                data = self._items.popleft()
                self._size -= len(data)
                self._cond.notify_all()
            yield data


def store_into(event: evt.Event, queue: InstanceQueue) -> int:
    """EVT_C_STORE of a retrieve: queue the instance as received, without decoding it (PS3.4
    B.2.3 statuses: 0x0000 success, 0xA700 out of resources when the consumer has gone)."""
    try:
        return SUCCESS if queue.put(event.encoded_dataset(include_meta=True)) else 0xA700
    except Exception:
        LOGGER.exception("C-STORE sub-operation could not be queued")
        return 0xC211


class MoveRouter:
    """Which waiting ``retrieve`` a C-MOVE sub-operation belongs to: each C-MOVE gets a Message
    ID no other pending move uses, and its sub-operations come back with it as Move Originator
    Message ID (PS3.7 9.1.1.1, 9.3.1.1) and our AE title as Move Originator AE Title."""

    def __init__(self, ae_title: str) -> None:
        self.ae_title = ae_title
        self._lock = threading.Lock()
        self._queues: dict[int, InstanceQueue] = {}
        self._next = 1

    def open(self, queue: InstanceQueue) -> int:
        with self._lock:
            for _ in range(0xFFFF):
                msg_id, self._next = self._next, self._next % 0xFFFF + 1
                if msg_id not in self._queues:
                    self._queues[msg_id] = queue
                    return msg_id
        raise PacsError("65535 C-MOVE operations already pending")

    def close(self, msg_id: int) -> None:
        with self._lock:
            self._queues.pop(msg_id, None)

    def is_ours(self, originator_ae: str | None) -> bool:
        return (originator_ae or "").strip() == self.ae_title

    def queue_for(self, originator_ae: str | None, msg_id: int | None) -> InstanceQueue | None:
        """The queue of a pending move of ours, or ``None``."""
        if msg_id is None or not self.is_ours(originator_ae):
            return None
        with self._lock:
            return self._queues.get(msg_id)


@dataclass
class _Plan:
    """What a retrieve asks (one request per level/series) and how many instances it expects."""

    sop_classes: set[str]
    requests: list[Dataset] = field(default_factory=list)
    expected: int = 0


def _status(status: Dataset, operation: str) -> int:
    """The status code of a response; an empty status means the association was lost."""
    if "Status" not in status:
        raise PacsUnavailable(f"{operation}: the association with the PACS was lost")
    return int(status.Status)


def _failure(status: Dataset, operation: str) -> PacsError:
    comment = status.get("ErrorComment", "")
    return PacsError(f"{operation} failed with status 0x{int(status.Status):04X} {comment}".strip())


#: return keys per level (PS3.4 C.6.2.1.2 Study Root keys, plus the attributes publishing needs)
STUDY_KEYS = (
    "PatientID", "IssuerOfPatientID", "PatientName", "PatientBirthDate", "PatientSex",
    "StudyDate", "StudyTime", "AccessionNumber", "StudyDescription", "StudyID",
    "ReferringPhysicianName", "InstitutionName", "ModalitiesInStudy",
    "NumberOfStudyRelatedInstances",
)
SERIES_KEYS = ("Modality", "SeriesNumber", "SeriesDescription", "BodyPartExamined")
IMAGE_KEYS = ("SOPClassUID", "InstanceNumber", "NumberOfFrames")


def _query(level: str, keys: Iterable[str], **matching: str) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword in keys:
        setattr(ds, keyword, "")
    for keyword, value in matching.items():
        setattr(ds, keyword, value)
    return ds


def _date_range(since: date | None, until: date | None) -> str:
    """PS3.4 C.2.2.2.5 range matching on StudyDate."""
    if since is None and until is None:
        return ""
    start = since.strftime("%Y%m%d") if since else ""
    end = until.strftime("%Y%m%d") if until else ""
    return start if start == end else f"{start}-{end}"


class DimsePacs:
    """The ``Pacs`` interface over DIMSE. Thread-safe: every operation has its own association
    (an operation's queries share one)."""

    def __init__(
        self, settings: GatewaySettings, router: MoveRouter | None = None, *,
        buffer_bytes: int = 64 * 1024 * 1024, timeout: float = 30.0,
    ) -> None:
        if settings.retrieve_method == "c-move" and router is None:
            raise ValueError("C-MOVE retrieval needs the MoveRouter of the gateway's C-STORE SCP")
        self.settings = settings
        self.router = router
        self.buffer_bytes = buffer_bytes
        self._ae = AE(ae_title=settings.ae_title)
        self._ae.maximum_pdu_size = settings.max_pdu
        self._ae.connection_timeout = min(timeout, 5.0)
        self._ae.acse_timeout = timeout
        self._ae.dimse_timeout = timeout
        self._ae.network_timeout = timeout * 2

    @property
    def _peer(self) -> str:
        s = self.settings
        return f"PACS {s.pacs_ae_title}@{s.pacs_host}:{s.pacs_port}"

    def _associate(
        self, contexts: list[PresentationContext], ext_neg: list[object] | None = None,
        handlers: list[tuple[object, ...]] | None = None,
    ) -> Association:
        assoc = self._ae.associate(
            self.settings.pacs_host, self.settings.pacs_port, contexts=contexts,
            ae_title=self.settings.pacs_ae_title, max_pdu=self.settings.max_pdu,
            ext_neg=ext_neg,  # type: ignore[arg-type]
            evt_handlers=[(evt.EVT_CONN_OPEN, set_nodelay), (evt.EVT_CONN_CLOSE, _wake_on_close),
                          *(handlers or [])],  # type: ignore[list-item]
        )
        if assoc.is_established:
            return assoc
        if assoc.is_rejected:
            raise PacsError(f"{self._peer} rejected the association")
        raise PacsUnavailable(f"{self._peer} cannot be reached")

    def _find_association(self) -> Association:
        return self._associate([build_context(StudyRootQueryRetrieveInformationModelFind)])

    def _find(self, assoc: Association, query: Dataset) -> list[Dataset]:
        """One C-FIND (PS3.4 C.4.1): every pending identifier, or PacsError."""
        answers: list[Dataset] = []
        park_reactor(assoc)
        for status, identifier in assoc.send_c_find(
            query, StudyRootQueryRetrieveInformationModelFind
        ):
            code = _status(status, "C-FIND")
            if code in (PENDING, PENDING_WARNING):
                if identifier is None:
                    raise PacsError("C-FIND: an identifier could not be decoded")
                answers.append(identifier)
            elif code == SUCCESS:
                return answers
            else:
                raise _failure(status, "C-FIND")
        raise PacsUnavailable("C-FIND: the association with the PACS was lost")

    @staticmethod
    def _release(assoc: Association) -> None:
        if assoc.is_established:
            assoc.release()

    def echo(self) -> None:
        """C-ECHO (PS3.7 9.1.5): PacsUnavailable/PacsError unless the PACS answers success."""
        assoc = self._associate([build_context("1.2.840.10008.1.1")])
        try:
            status = assoc.send_c_echo()
            if _status(status, "C-ECHO") != SUCCESS:
                raise _failure(status, "C-ECHO")
        finally:
            self._release(assoc)

    # -- queries --------------------------------------------------------------------------------

    def find_studies(
        self, *, since: date | None = None, until: date | None = None,
        study_instance_uid: str | None = None, patient_id: str | None = None,
    ) -> list[StudyInfo]:
        matching = {"StudyDate": _date_range(since, until)}
        if study_instance_uid:
            matching["StudyInstanceUID"] = check_uid(study_instance_uid)
        if patient_id:
            if _WILDCARDS.search(patient_id):
                raise ValueError(f"patient ID with wild card characters: {patient_id!r}")
            matching["PatientID"] = patient_id
        query = _query("STUDY", [*STUDY_KEYS, "StudyInstanceUID"], **matching)
        assoc = self._find_association()
        try:
            return [StudyInfo.from_dataset(ds) for ds in self._find(assoc, query)]
        finally:
            self._release(assoc)

    def study(self, study_instance_uid: str) -> StudyInfo | None:
        check_uid(study_instance_uid)
        assoc = self._find_association()
        try:
            return self._study(assoc, study_instance_uid)
        finally:
            self._release(assoc)

    def _study(self, assoc: Association, uid: str) -> StudyInfo | None:
        found = self._find(assoc, _query("STUDY", STUDY_KEYS, StudyInstanceUID=uid))
        if not found:
            return None
        info = StudyInfo.from_dataset(found[0])
        info.study_instance_uid = uid
        for ds in self._find(assoc, _query("SERIES", SERIES_KEYS, StudyInstanceUID=uid,
                                           SeriesInstanceUID="")):
            series = SeriesInfo.from_dataset(ds)
            images = self._find(assoc, _query(
                "IMAGE", IMAGE_KEYS, StudyInstanceUID=uid,
                SeriesInstanceUID=series.series_instance_uid, SOPInstanceUID="",
            ))
            series.instances = sorted(
                (InstanceInfo.from_dataset(i) for i in images),
                key=lambda i: (i.instance_number is None, i.instance_number or 0),
            )
            info.series.append(series)
        info.series.sort(key=lambda s: (s.series_number is None, s.series_number or 0))
        return info

    # -- retrieval --------------------------------------------------------------------------------

    def _plan(
        self, study_uid: str, series_uid: str | None, sop_uids: list[str] | None
    ) -> _Plan:
        """What the retrieve asks and how many instances it must bring. A whole study or series
        is planned from the aggregate keys (SOP Classes in Study, Number of Study/Series Related
        Instances, PS3.4 C.3.4); a list of instances, or a PACS without those keys, from the full
        listing down to IMAGE level."""
        assoc = self._find_association()
        try:
            found = self._find(assoc, _query(
                "STUDY", ("SOPClassesInStudy", "NumberOfStudyRelatedInstances"),
                StudyInstanceUID=study_uid))
            if not found:
                raise PacsError(f"the PACS has no study {study_uid}")
            classes = {str(c) for c in values(found[0], "SOPClassesInStudy")}
            if sop_uids is None and series_uid is None:
                count = number(found[0], "NumberOfStudyRelatedInstances")
                request = _query("STUDY", (), StudyInstanceUID=study_uid)
            elif sop_uids is None:
                series = self._find(assoc, _query(
                    "SERIES", ("NumberOfSeriesRelatedInstances",), StudyInstanceUID=study_uid,
                    SeriesInstanceUID=series_uid))
                if not series:
                    raise PacsError(f"the PACS has no series {series_uid} in study {study_uid}")
                count = number(series[0], "NumberOfSeriesRelatedInstances")
                request = _query("SERIES", (), StudyInstanceUID=study_uid,
                                 SeriesInstanceUID=series_uid)
            else:
                count = None
            if classes and count is not None:
                return _Plan(classes, [request], count)
            study = self._study(assoc, study_uid)
        finally:
            self._release(assoc)
        if study is None:
            raise PacsError(f"the PACS has no study {study_uid}")
        return self._plan_from_listing(study, series_uid, sop_uids)

    @staticmethod
    def _plan_from_listing(
        study: StudyInfo, series_uid: str | None, sop_uids: list[str] | None
    ) -> _Plan:
        """C-GET/C-MOVE requests from the study's listing: STUDY, SERIES, or IMAGE level with a
        list of SOP Instance UIDs per series (PS3.4 C.2.2.2.2 list of UID matching)."""
        study_uid = study.study_instance_uid
        series_list = study.series
        if series_uid is not None:
            series_list = [s for s in series_list if s.series_instance_uid == series_uid]
            if not series_list:
                raise PacsError(f"the PACS has no series {series_uid} in study {study_uid}")
        wanted = set(sop_uids) if sop_uids is not None else None
        plan = _Plan(set())
        for series in series_list:
            instances = [i for i in series.instances
                         if wanted is None or i.sop_instance_uid in wanted]
            plan.sop_classes.update(i.sop_class_uid for i in instances)
            plan.expected += len(instances)
            if wanted is not None and instances:
                plan.requests.append(_query(
                    "IMAGE", (), StudyInstanceUID=study_uid,
                    SeriesInstanceUID=series.series_instance_uid,
                    SOPInstanceUID=[i.sop_instance_uid for i in instances],  # type: ignore[arg-type]
                ))
        if wanted is not None:
            missing = len(wanted) - plan.expected
            if missing:
                raise PacsError(f"{missing} of the requested instances are not in the PACS")
        elif series_uid is not None:
            plan.requests.append(_query(
                "SERIES", (), StudyInstanceUID=study_uid, SeriesInstanceUID=series_uid))
        else:
            plan.requests.append(_query("STUDY", (), StudyInstanceUID=study_uid))
        return plan

    def retrieve(
        self, study_instance_uid: str, series_instance_uid: str | None = None,
        sop_instance_uids: list[str] | None = None,
    ) -> Iterator[bytes]:
        """The selection's instances as Part 10 bytes, as they arrive. The selection is checked
        before this returns (PacsError, PacsUnavailable); the transfer runs while the iterator is
        consumed, and its failures are raised after the instances already yielded."""
        for uid in [study_instance_uid, series_instance_uid, *(sop_instance_uids or [])]:
            if uid is not None:
                check_uid(uid)
        plan = self._plan(study_instance_uid, series_instance_uid, sop_instance_uids)
        if self.settings.retrieve_method == "c-move":
            return self._stream(plan, self._move)
        return self._stream(plan, self._get)

    def _stream(
        self, plan: _Plan, transfer: Callable[[_Plan, InstanceQueue], None]
    ) -> Iterator[bytes]:
        queue = InstanceQueue(self.buffer_bytes)

        def run() -> None:
            try:
                transfer(plan, queue)
                if queue.cancelled:
                    return
                if queue.count != plan.expected:
                    raise PacsError(
                        f"retrieve ended with {queue.count} of {plan.expected} instances")
                queue.finish()
            except PacsError as exc:
                queue.finish(exc)
            except Exception as exc:  # anything else is still a failed transfer, never an end
                LOGGER.exception("retrieve failed")
                queue.finish(PacsError(f"retrieve failed: {exc}"))

        worker = threading.Thread(target=run, name="pacs-retrieve", daemon=True)
        worker.start()
        try:
            yield from queue
        finally:
            queue.cancel()
            worker.join(timeout=self._ae.dimse_timeout or 30)

    def _get_contexts(self, sop_classes: set[str]) -> tuple[list[PresentationContext], list[object]]:
        """The C-GET context, and storage contexts with the SCP role for the SOP classes found:
        one per (class, transfer syntax) while they fit in 128, so the PACS can send each instance
        in the syntax it holds; otherwise one per class offering them all."""
        classes = sorted(sop_classes)
        if len(classes) + 1 > MAX_CONTEXTS:
            raise PacsError(f"{len(classes)} SOP classes: more than one association can negotiate")
        contexts = [build_context(StudyRootQueryRetrieveInformationModelGet)]
        if len(classes) * len(RETRIEVE_TRANSFER_SYNTAXES) + 1 <= MAX_CONTEXTS:
            contexts += [build_context(c, ts) for c in classes for ts in RETRIEVE_TRANSFER_SYNTAXES]
        else:
            contexts += [build_context(c, list(RETRIEVE_TRANSFER_SYNTAXES)) for c in classes]
        roles: list[object] = [build_role(c, scp_role=True) for c in classes]
        return contexts, roles

    def _get(self, plan: _Plan, queue: InstanceQueue) -> None:
        """C-GET (PS3.4 C.4.3): sub-operations are C-STOREs on this association."""
        contexts, roles = self._get_contexts(plan.sop_classes)
        assoc = self._associate(contexts, roles, [(evt.EVT_C_STORE, store_into, [queue])])
        try:
            for request in plan.requests:
                park_reactor(assoc)
                responses = assoc.send_c_get(request, StudyRootQueryRetrieveInformationModelGet)
                self._follow(assoc, responses, "C-GET", queue)
                if queue.cancelled:
                    return
        finally:
            self._release(assoc)

    def _move(self, plan: _Plan, queue: InstanceQueue) -> None:
        """C-MOVE (PS3.4 C.4.2) to our own C-STORE SCP, which hands the sub-operations over
        through the ``MoveRouter``."""
        assert self.router is not None
        assoc = self._associate([build_context(StudyRootQueryRetrieveInformationModelMove)])
        try:
            for request in plan.requests:
                msg_id = self.router.open(queue)
                try:
                    park_reactor(assoc)
                    responses = assoc.send_c_move(
                        request, self.settings.ae_title,
                        StudyRootQueryRetrieveInformationModelMove, msg_id=msg_id,
                    )
                    self._follow(assoc, responses, "C-MOVE", queue)
                finally:
                    self.router.close(msg_id)
                if queue.cancelled:
                    return
        finally:
            self._release(assoc)

    @staticmethod
    def _follow(
        assoc: Association, responses: Iterator[tuple[Dataset, Dataset | None]], operation: str,
        queue: InstanceQueue,
    ) -> None:
        """Read C-GET/C-MOVE responses to the final one; abort if the consumer has gone.
        Success needs no failed sub-operation (a warning 0xB000 means some failed)."""
        for status, _ in responses:
            if queue.cancelled:
                assoc.abort()
                return
            code = _status(status, operation)
            if code in (PENDING, PENDING_WARNING):
                continue
            if code != SUCCESS:
                raise _failure(status, operation)
            failed = int(status.get("NumberOfFailedSuboperations") or 0)
            if failed:
                raise PacsError(f"{operation}: {failed} sub-operations failed")
            return
        raise PacsUnavailable(f"{operation}: the association with the PACS was lost")

    def close(self) -> None:
        """Nothing is held between operations: every association ends with its operation."""
