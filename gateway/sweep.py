"""Finding what to publish: the periodic C-FIND / QIDO-RS sweep by StudyDate and the hook of the
forwarding quiet-period detector, both feeding the ``Publisher`` (RAD TF-3 §4.68).

Forwarding is fast but may miss a study (a forward that failed); the sweep over the last
``sweep_days`` catches it, re-checks that published studies are still in the PACS (a deleted
one is deprecated) and retries every held-back, failed or interrupted study. Both run on one
background thread, so publishing never blocks the DICOM side.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from gateway.core.config import GatewaySettings
from gateway.models import Sweep
from gateway.pacs import Pacs, PacsError
from gateway.publish import records
from gateway.publisher import Publisher
from partage.db import Database

log = logging.getLogger(__name__)

#: called with each study UID once it has been dealt with (progress bars)
Progress = Callable[[str], None]


@dataclass
class SweepReport:
    """What one sweep found and did; ``outcomes`` counts the resulting states."""

    studies_seen: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    error: str = ""


class Sweeper:
    def __init__(self, settings: GatewaySettings, db: Database, pacs: Pacs,
                 publisher: Publisher) -> None:
        self.settings = settings
        self.db = db
        self.pacs = pacs
        self.publisher = publisher
        self._completed: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- one sweep --------------------------------------------------------------------------
    def candidates(self, since: date, until: date) -> tuple[int, list[str]]:
        """(studies the PACS lists for StudyDate in [since, until], every study UID to look
        at: those, the published ones of that range, and the ones to retry). ``PacsError``
        propagates."""
        found = [s.study_instance_uid for s in self.pacs.find_studies(since=since, until=until)]
        with self.db.session() as session:
            published = records.published_between(
                session, since.strftime("%Y%m%d"), until.strftime("%Y%m%d")
            )
            retried = records.to_retry(session)
        return len(found), list(dict.fromkeys([*found, *published, *retried]))

    def sweep(self, since: date | None = None, until: date | None = None, *,
              progress: Callable[[int], Progress] | None = None) -> SweepReport:
        """Publish every study of [since, until] (default: the last ``sweep_days``) and retry
        what is pending; ``progress(total)`` gives the per-study callback. Recorded as a
        ``Sweep`` row (the status page's "last sweep")."""
        until = until or date.today()
        since = since or until - timedelta(days=self.settings.sweep_days)
        report = SweepReport()
        with self.db.session() as session:
            row = session.merge(Sweep(started_at=records.now(), studies_seen=0, error=""))
            session.flush()
            sweep_id = row.id
        try:
            report.studies_seen, uids = self.candidates(since, until)
            report.outcomes = self.publish_all(uids, progress(len(uids)) if progress else None)
        except PacsError as exc:
            report.error = f"PACS: {exc}"
            log.error("sweep stopped: %s", report.error)
        with self.db.session() as session:
            row = session.get_one(Sweep, sweep_id)
            row.finished_at = records.now()
            row.studies_seen = report.studies_seen
            row.error = report.error
        return report

    def publish_all(self, uids: Iterable[str], progress: Progress | None = None) -> Counter[str]:
        outcomes: Counter[str] = Counter()
        for uid in uids:
            if self._stopping.is_set():
                break
            state = self.publisher.publish(uid)
            outcomes[state.value if state else "gone"] += 1
            if progress:
                progress(uid)
        return outcomes

    # -- forwarding hook and background thread ------------------------------------------------
    def on_study_complete(self, study_instance_uid: str) -> None:
        """Called by the forwarding quiet-period detector: publish this study soon, on the
        background thread (never on the caller's)."""
        self._completed.put(study_instance_uid)

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="gateway-sweep", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._completed.put(None)  # wake the thread
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        """Sweep at start and every ``sweep_interval_s`` (0: never); publish completed studies
        as they are reported in between."""
        interval = self.settings.sweep_interval_s
        next_sweep = time.monotonic() if interval > 0 else None
        while not self._stopping.is_set():
            if next_sweep is not None and time.monotonic() >= next_sweep:
                self._guarded(self.sweep)
                next_sweep = time.monotonic() + interval
            wait = None if next_sweep is None else max(0.0, next_sweep - time.monotonic())
            try:
                uid = self._completed.get(timeout=wait)
            except queue.Empty:
                continue
            if uid is not None:
                self._guarded(self.publisher.publish, uid)

    def _guarded(self, action: Callable[..., object], *args: str) -> None:
        try:
            action(*args)
        except PacsError as exc:
            log.error("PACS unavailable: %s", exc)
        except Exception:  # the thread must outlive any single study
            log.exception("publishing failed")
