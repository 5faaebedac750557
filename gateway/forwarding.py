"""Instances the PACS forwards to the gateway's C-STORE SCP, kept until their study is published.

Each instance is written atomically (temporary file, then rename) to
``<spool>/<StudyInstanceUID>/<SOPInstanceUID>.dcm``. A study is complete once ``quiet_period_s``
has passed without a new instance: the PACS sends a study as it receives it, with no end marker
(DESIGN.md, the path of one study, step 2). The spool is the state: after a restart the studies
found in it are complete again once quiet (file times), so nothing forwarded is lost.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

LOGGER = logging.getLogger(__name__)

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
SUFFIX = ".dcm"


def _check_uid(value: str) -> str:
    """A UID is also a file name here: digits and dots only (PS3.5 9.1), never a path."""
    if len(value) > 64 or not _UID.match(value):
        raise ValueError(f"not a DICOM UID: {value!r}")
    return value


class Spool:
    """Forwarded instances on disk, grouped by study, with each study's last arrival time.
    Thread-safe: the SCP stores from one thread per association."""

    def __init__(self, root: Path, quiet_period_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.quiet_period_s = quiet_period_s
        self.clock = clock
        self._lock = threading.Lock()
        #: study UID → wall-clock time of its last instance
        self._last: dict[str, float] = {}
        self.root.mkdir(parents=True, exist_ok=True)
        self._reload()

    def _reload(self) -> None:
        """Rebuild the arrival times from what a previous run left (partial writes removed)."""
        for folder in self.root.iterdir():
            if not folder.is_dir() or not _UID.match(folder.name):
                continue
            for leftover in folder.glob(".*.part"):
                leftover.unlink(missing_ok=True)
            times = [f.stat().st_mtime for f in folder.glob(f"*{SUFFIX}")]
            if times:
                self._last[folder.name] = max(times)
            else:
                shutil.rmtree(folder, ignore_errors=True)

    def store(self, study_uid: str, sop_instance_uid: str, data: bytes) -> Path:
        """Write one Part 10 instance atomically; a second copy replaces the first."""
        folder = self.root / _check_uid(study_uid)
        target = folder / f"{_check_uid(sop_instance_uid)}{SUFFIX}"
        folder.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with self._lock:
            self._last[study_uid] = self.clock()
        return target

    def studies(self) -> list[str]:
        """Every study with instances in the spool."""
        with self._lock:
            return sorted(self._last)

    def completed_studies(self) -> list[str]:
        """Studies without a new instance for the quiet period, oldest first."""
        now = self.clock()
        with self._lock:
            quiet = [(t, uid) for uid, t in self._last.items() if now - t >= self.quiet_period_s]
        return [uid for _, uid in sorted(quiet)]

    def instances(self, study_uid: str) -> list[Path]:
        """The study's spooled files (Part 10)."""
        return sorted((self.root / _check_uid(study_uid)).glob(f"*{SUFFIX}"))

    def discard(self, study_uid: str, files: list[Path]) -> None:
        """Remove ``files`` (what was handed over); instances that arrived since stay, and keep
        the study pending."""
        folder = self.root / _check_uid(study_uid)
        with self._lock:
            for path in files:
                if path.parent == folder:
                    path.unlink(missing_ok=True)
            if not any(folder.glob(f"*{SUFFIX}")):
                shutil.rmtree(folder, ignore_errors=True)
                self._last.pop(study_uid, None)


class ForwardWatcher:
    """Calls ``on_complete(study_uid)`` once per completed study from a background thread. When
    it returns, the study's files are discarded; when it raises, the call is retried after another
    quiet period. A study receiving instances again later completes (and is reported) again."""

    def __init__(self, spool: Spool, on_complete: Callable[[str], None],
                 interval_s: float | None = None) -> None:
        self.spool = spool
        self.on_complete = on_complete
        self.interval_s = interval_s or max(min(spool.quiet_period_s / 4, 1.0), 0.05)
        self._retry_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="forward-watcher", daemon=True)

    def start(self) -> ForwardWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def poll(self) -> list[str]:
        """Hand over every completed study now; returns those handed over."""
        handed = []
        now = self.spool.clock()
        for uid in self.spool.completed_studies():
            if self._retry_at.get(uid, 0.0) > now:
                continue
            files = self.spool.instances(uid)
            try:
                self.on_complete(uid)
            except Exception:
                LOGGER.exception("forwarded study %s: hand-over failed, will retry", uid)
                self._retry_at[uid] = now + self.spool.quiet_period_s
                continue
            self._retry_at.pop(uid, None)
            self.spool.discard(uid, files)
            handed.append(uid)
        return handed

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.poll()
