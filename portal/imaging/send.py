"""Send a study to the reading site's own PACS (issue 4: importing outside images): every shared
instance, as its gateway gives it, C-STOREd (PS3.4 Annex B) over one association to
``export_pacs`` (``AE@host:port``), as a background job whose progress the browser polls.

Presentation contexts are proposed one per (SOP Class, transfer syntax), so a compressed
instance goes in the syntax it is stored in; uncompressed ones may be converted by pynetdicom
between the little-endian syntaxes the PACS accepts. TCP_NODELAY is set on the socket (DESIGN.md,
"network speed").
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from typing import Any

from pydicom import dcmread
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)
from pynetdicom import AE, Association, build_context, evt
from pynetdicom.presentation import PresentationContext

from gateway.pacs.dimse import set_nodelay
from portal.imaging.lru import TtlLru
from portal.imaging.problems import ImagingProblem
from portal.imaging.retrieve import Part10

log = logging.getLogger(__name__)

#: proposed for every SOP Class, uncompressed first; compressed ones only while room is left
SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit, JPEGLosslessSV1,
            JPEG2000Lossless, JPEG2000, JPEGLSLossless, RLELossless)
#: PS3.8 9.3.2.2: at most 128 presentation contexts per association
MAX_CONTEXTS = 128
_PACS = re.compile(r"^(?P<ae>[^@]{1,16})@(?P<host>[^:@]+):(?P<port>[0-9]{1,5})$")


@dataclass(frozen=True)
class Destination:
    ae_title: str
    host: str
    port: int


def destination(value: str) -> Destination:
    """``AE@host:port``; ``ValueError`` otherwise."""
    found = _PACS.match(value.strip())
    if found is None or not 0 < int(found["port"]) < 65536:
        raise ValueError(f"export PACS {value!r} is not AE@host:port")
    return Destination(found["ae"].strip(), found["host"], int(found["port"]))


@dataclass
class Job:
    """A send in progress; ``state`` is pending, running, done or failed."""

    id: str
    owner: str
    total: int
    state: str = "pending"
    done: int = 0
    failed: int = 0
    error: str | None = None
    failures: list[str] = field(default_factory=list)

    def progress(self) -> dict[str, object]:
        return {"state": self.state, "done": self.done, "total": self.total,
                "failed": self.failed, "error": self.error}


class Jobs:
    """Jobs by id, kept an hour (at most 1024), visible only to the user who started them."""

    def __init__(self) -> None:
        self._jobs: TtlLru[str, Job] = TtlLru(1024, 3600.0)
        self._tasks: set[asyncio.Task[None]] = set()

    def new(self, owner: str, total: int) -> Job:
        job = Job(uuid.uuid4().hex, owner, total)
        self._jobs.put(job.id, job)
        return job

    def get(self, job_id: str, owner: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None or job.owner != owner:
            raise ImagingProblem(404, f"no job {job_id}")
        return job

    def run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run the job in the background, keeping a reference to its task until it ends
        (asyncio itself holds only weak ones)."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def contexts(sop_classes: set[str]) -> list[PresentationContext]:
    """One context per (SOP Class, syntax), uncompressed for all classes before any
    compressed one, within the 128 an association may propose."""
    ordered = sorted(sop_classes)
    pairs = [(c, s) for s in SYNTAXES for c in ordered][:MAX_CONTEXTS]
    return [build_context(c, [s]) for c, s in pairs]


def _associate(ae_title: str, target: Destination, sop_classes: set[str],
               timeout: float) -> Association:
    ae = AE(ae_title=ae_title)
    ae.requested_contexts = contexts(sop_classes)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    assoc = ae.associate(target.host, target.port, ae_title=target.ae_title,
                         evt_handlers=[(evt.EVT_CONN_OPEN, set_nodelay)])
    if not assoc.is_established:
        raise ConnectionError(f"{target.ae_title}@{target.host}:{target.port} refused or did not "
                              "answer the association")
    return assoc


def _store(assoc: Association, data: bytes) -> int:
    status = assoc.send_c_store(dcmread(io.BytesIO(data)))
    return int(status.Status) if "Status" in status else -1


async def send_study(job: Job, instances: AsyncIterator[Part10], *, ae_title: str,
                     target: Destination, sop_classes: set[str], timeout: float) -> None:
    """Run ``job``: one association, one C-STORE per instance as it arrives. Statuses other
    than success (0x0000) or warning (0xB000, 0xB007, 0xB006) count as failed; a lost
    association or gateway ends the job as failed with the reason."""
    job.state = "running"
    assoc: Association | None = None
    try:
        assoc = await asyncio.to_thread(_associate, ae_title, target, sop_classes, timeout)
        async for part in instances:
            if not assoc.is_established:
                raise ConnectionError(f"{target.ae_title} released the association")
            try:
                status = await asyncio.to_thread(_store, assoc, part.data)
            except ValueError as exc:  # no accepted context for its SOP Class / syntax
                status, reason = -1, str(exc)
            else:
                reason = f"status 0x{status:04X}" if status >= 0 else "no response"
            if status in (0x0000, 0xB000, 0xB006, 0xB007):
                job.done += 1
            else:
                job.failed += 1
                job.failures.append(f"{part.sop_instance_uid}: {reason}")
        job.state = "done" if job.failed == 0 else "failed"
        if job.failed:
            job.error = f"{job.failed} of {job.total} instances were refused ({job.failures[0]})"
    except asyncio.CancelledError:
        job.state, job.error = "failed", "the portal stopped"
        raise
    except Exception as exc:  # every failure ends the job visibly, never silently
        log.warning("send to PACS failed", extra={"job": job.id, "error": str(exc)})
        job.state, job.error = "failed", str(exc) or type(exc).__name__
    finally:
        if assoc is not None and assoc.is_established:
            await asyncio.to_thread(assoc.release)
