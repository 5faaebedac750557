"""Bounded on-disk cache of the Part 10 instances the gateway serves (DESIGN.md step 6).

One file per instance, ``<root>/<study>/<series>/<sop>.dcm``, so WADO-RS frames and metadata can
read a single instance. A series is the unit of eviction (least recently used first, the total
kept under ``max_bytes``) and of completeness: ``index.json`` in its folder lists the instances
known to be on disk and, once a whole series was fetched, their order; ``study.json`` lists the
series of a study fetched whole.

Writes are atomic (temporary name, then rename). Durability is batched: when a transfer ends the
new files and their folders are fsynced, and only then is ``index.json`` rewritten (temporary,
fsync, rename). After a crash, files that ``index.json`` does not list are deleted, so nothing
unsynced is ever trusted. Access times live in memory and as the series folder's mtime, so a
restart keeps the LRU order.

Concurrent requests for the same selection share one PACS transfer: the first streams from the
PACS while writing; the others stream the instances from disk as they land. A transfer that fails
(``PacsError``) leaves nothing behind, and no entry is marked complete unless the PACS finished.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pydicom.errors import InvalidDicomError

from gateway.imaging import header
from gateway.pacs.base import PacsError

#: a UID as PS3.5 §9.1 allows it: only these may become file names
UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
INDEX = "index.json"
STUDY = "study.json"

log = logging.getLogger(__name__)

Key = tuple[str, str | None, tuple[str, ...] | None]
GroupKey = tuple[str, str]
#: bytes of arriving instances waiting for the writer thread
WRITE_AHEAD = 4 * 1024 * 1024


@dataclass
class _Group:
    """The cached instances of one series."""

    sizes: dict[str, int] = field(default_factory=dict)
    #: transfer syntax of each instance as it arrived (absent in indexes of older versions)
    syntaxes: dict[str, str] = field(default_factory=dict)
    #: instances fsynced: the only ones ``index.json`` may list
    durable: set[str] = field(default_factory=set)
    #: every instance of the series, in the PACS's order, once fetched whole
    complete: list[str] | None = None
    atime: float = 0.0


@dataclass
class _Transfer:
    """One PACS transfer in progress, followed by the other requesters of the same selection."""

    written: list[str] = field(default_factory=list)
    #: "running", "done", "failed" or "abandoned" (requester gone, or larger than the cache)
    state: str = "running"
    error: str = ""


@dataclass(frozen=True)
class CachedInstance:
    sop_instance_uid: str
    size: int
    #: as it arrived from the PACS; ``None`` when the index does not say
    transfer_syntax_uid: str | None


class Held:
    """A whole study or series on disk, its study pinned (not evicted) until ``release``."""

    def __init__(self, cache: InstanceCache, study: str,
                 instances: list[tuple[GroupKey, CachedInstance]]) -> None:
        self._cache = cache
        self._study = study
        self._instances = instances
        self._released = False

    @property
    def instances(self) -> list[CachedInstance]:
        return [instance for _, instance in self._instances]

    def files(self) -> Iterator[tuple[CachedInstance, bytes]]:
        """Each instance with its Part 10 bytes, read whole (one read per file); ``PacsError``
        if one is no longer what the index says."""
        for (study, series), instance in self._instances:
            path = self._cache.root / study / series / f"{instance.sop_instance_uid}.dcm"
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                data = b""
            if len(data) != instance.size:
                raise PacsError(f"cached instance {instance.sop_instance_uid} changed or "
                                "disappeared during the transfer")
            yield instance, data

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._cache._unpin(self._study)


class InstanceCache:
    """Part 10 instances on disk under ``root``, at most ``max_bytes`` in total."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._groups: dict[GroupKey, _Group] = {}
        self._where: dict[str, GroupKey] = {}
        self._studies: dict[str, list[str]] = {}
        self._pins: Counter[str] = Counter()
        self._transfers: dict[Key, _Transfer] = {}
        self._sealers: list[threading.Thread] = []
        self._serial = itertools.count()  # temporary file names
        self.size = 0
        root.mkdir(parents=True, exist_ok=True)
        self._load()

    # -- reading ---------------------------------------------------------------------------

    def read_through(
        self, study: str, series: str | None, sops: list[str] | None,
        fetch: Callable[[], Iterator[bytes]],
    ) -> Iterator[bytes]:
        """Part 10 bytes of the selected instances (a study, a series, or the listed instances),
        from disk when all are cached, else from ``fetch()`` (the PACS) while caching them.

        Raises ``PacsError`` (after the instances already yielded) when the PACS transfer fails.
        """
        inner = self._keyed(study, series, sops, fetch)
        try:
            for _, data in inner:
                yield data
        finally:
            inner.close()

    def _keyed(
        self, study: str, series: str | None, sops: list[str] | None,
        fetch: Callable[[], Iterator[bytes]],
    ) -> Iterator[tuple[str, bytes]]:
        """``read_through`` with each instance's SOP Instance UID."""
        key: Key = (study, series, tuple(sops) if sops else None)
        sent: set[str] = set()
        while True:
            with self._lock:
                listing = self._listing(key)
                transfer = None if listing is not None else self._transfers.get(key)
                leading = listing is None and transfer is None
                if leading:
                    transfer = self._transfers[key] = _Transfer()
                self._pins[study] += 1
            try:
                if listing is not None:
                    self._touch(study, listing)
                    yield from self._from_disk(listing, sent)
                    return
                assert transfer is not None
                if leading:
                    yield from self._lead(key, transfer, fetch, sent)
                    return
                if (yield from self._follow(transfer, sent)):
                    return
            finally:
                self._unpin(study)

    def hold(self, study: str, series: str | None) -> Held | None:
        """The whole study (or series) when all of it is cached, in serving order, pinned until
        ``Held.release()``; ``None`` otherwise. Nothing is read or parsed."""
        key: Key = (study, series, None)
        with self._lock:
            listing = self._listing(key)
            if listing is None:
                return None
            held = []
            for sop in listing:
                where = self._where[sop]
                group = self._groups[where]
                held.append((where, CachedInstance(sop, group.sizes[sop],
                                                   group.syntaxes.get(sop))))
            self._pins[study] += 1
        self._touch(study, listing)
        return Held(self, study, held)

    def open_instance(self, sop_instance_uid: str) -> BinaryIO | None:
        """The cached Part 10 file of one instance, opened for reading, or ``None``."""
        with self._lock:
            where = self._where.get(sop_instance_uid)
            if where is None:
                return None
            self._groups[where].atime = time.time()
        self._utime(where)
        try:
            return (self.root / where[0] / where[1] / f"{sop_instance_uid}.dcm").open("rb")
        except FileNotFoundError:
            return None

    def locate(self, sop_instance_uid: str) -> GroupKey | None:
        """(study, series) under which the cache holds this instance, or ``None``."""
        with self._lock:
            return self._where.get(sop_instance_uid)

    def close(self) -> None:
        """Wait until every finished transfer is on disk for good (fsynced and indexed)."""
        with self._lock:
            sealers, self._sealers = self._sealers, []
        for thread in sealers:
            thread.join()

    # -- the three ways of serving -------------------------------------------------------------

    def _from_disk(self, listing: list[str], sent: set[str]) -> Iterator[tuple[str, bytes]]:
        for sop in listing:
            if sop in sent:
                continue
            data = self._read(sop)
            if data is None:
                raise PacsError(f"cached instance {sop} disappeared during the transfer")
            sent.add(sop)
            yield sop, data

    def _follow(self, transfer: _Transfer, sent: set[str]
                ) -> Generator[tuple[str, bytes], None, bool]:
        """Stream what another requester's transfer writes; ``True`` once it is all sent,
        ``False`` if that transfer was abandoned (the caller then fetches the rest)."""
        position = 0
        while True:
            with self._lock:
                while position >= len(transfer.written) and transfer.state == "running":
                    self._changed.wait()
                if position < len(transfer.written):
                    sop = transfer.written[position]
                    position += 1
                elif transfer.state == "failed":
                    raise PacsError(transfer.error)
                else:
                    return transfer.state == "done"
            if sop in sent:
                continue
            data = self._read(sop)
            if data is None:
                continue  # discarded by a failed transfer: the state says so next turn
            sent.add(sop)
            yield sop, data

    def _lead(self, key: Key, transfer: _Transfer, fetch: Callable[[], Iterator[bytes]],
              sent: set[str]) -> Iterator[tuple[str, bytes]]:
        study, series, _ = key
        created: list[tuple[GroupKey, str]] = []
        order: dict[str, list[str]] = {}
        caching = True
        writer = _Writer(self, transfer, created)
        stream = fetch()
        try:
            for data in stream:
                got_study, got_series, sop, syntax = _uids(data)
                if got_study != study or (series and got_series != series):
                    raise PacsError(f"PACS sent instance {sop} of another study or series")
                order.setdefault(got_series, []).append(sop)
                if caching and not writer.put((got_study, got_series), sop, data, syntax):
                    caching = False
                    with self._lock:
                        self._finish(key, transfer, "abandoned")
                if sop not in sent:
                    sent.add(sop)
                    yield sop, data
        except PacsError as exc:
            writer.close(cancel=True)
            with self._lock:
                self._discard(created)
                self._finish(key, transfer, "failed", str(exc))
            raise
        except BaseException:  # the requester went away (GeneratorExit) or a bug
            writer.close()
            with self._lock:
                self._finish(key, transfer, "abandoned")
            self._seal(study, created)
            raise
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # releases the PACS connection when the requester left early
        caching = writer.close() and caching
        with self._lock:
            if caching and key[2] is None and order:
                for got_series, sops in order.items():
                    self._groups[(study, got_series)].complete = sops
                if series is None:
                    self._studies[study] = list(order)
            self._finish(key, transfer, "done" if caching else "abandoned")
        self._seal(study, created, write_study=caching and series is None and bool(order))

    # -- bookkeeping (called with the lock held unless said otherwise) -------------------------

    def _listing(self, key: Key) -> list[str] | None:
        """The instances of the selection in serving order, if all are cached."""
        study, series, sops = key
        if sops is not None:
            if all(self._where.get(sop, ("",))[0] == study
                   and (series is None or self._where[sop][1] == series) for sop in sops):
                return list(sops)
            return None
        every_series = [series] if series else self._studies.get(study)
        if every_series is None:
            return None
        listing: list[str] = []
        for one in every_series:
            group = self._groups.get((study, one))
            if group is None or group.complete is None:
                return None
            listing += group.complete
        return listing

    def _finish(self, key: Key, transfer: _Transfer, state: str, error: str = "") -> None:
        if transfer.state == "running":
            transfer.state, transfer.error = state, error
            self._transfers.pop(key, None)
            self._changed.notify_all()

    def _unpin(self, study: str) -> None:
        with self._lock:
            self._pins[study] -= 1
            if self._pins[study] <= 0:
                del self._pins[study]

    def _make_room(self, needed: int) -> bool:
        """Evict least recently used series of unpinned studies until ``needed`` bytes fit."""
        if needed > self.max_bytes:
            return False
        while self.size + needed > self.max_bytes:
            victims = [(g.atime, k) for k, g in self._groups.items() if k[0] not in self._pins]
            if not victims:
                return False
            self._evict(min(victims)[1])
        return True

    def _evict(self, key: GroupKey) -> None:
        group = self._groups.pop(key)
        for sop, size in group.sizes.items():
            self._where.pop(sop, None)
            self.size -= size
        if self._studies.pop(key[0], None) is not None:
            (self.root / key[0] / STUDY).unlink(missing_ok=True)
        shutil.rmtree(self.root / key[0] / key[1], ignore_errors=True)
        if not any(k[0] == key[0] for k in self._groups):
            shutil.rmtree(self.root / key[0], ignore_errors=True)

    def _discard(self, created: list[tuple[GroupKey, str]]) -> None:
        """Forget and delete what a failed transfer wrote (unless another one completed it)."""
        for group_key, sop in created:
            group = self._groups.get(group_key)
            if group is None or sop not in group.sizes or sop in (group.complete or ()):
                continue
            self.size -= group.sizes.pop(sop)
            group.syntaxes.pop(sop, None)
            group.durable.discard(sop)
            self._where.pop(sop, None)
            (self.root / group_key[0] / group_key[1] / f"{sop}.dcm").unlink(missing_ok=True)
            if not group.sizes:
                del self._groups[group_key]
                shutil.rmtree(self.root / group_key[0] / group_key[1], ignore_errors=True)

    # -- disk (without the lock) -----------------------------------------------------------

    def _store(self, group_key: GroupKey, sop: str, data: bytes, syntax: str,
               created: list[tuple[GroupKey, str]]) -> bool:
        """Write one instance (temporary name, rename); ``False`` when the cache cannot hold it
        (too large, all else in use, disk error): the transfer then goes on uncached."""
        with self._lock:
            group = self._groups.get(group_key)
            if group is not None and group.sizes.get(sop) == len(data):
                group.atime = time.time()
                return True
            if not self._make_room(len(data)):
                return False
            self.size += len(data)
            self._groups.setdefault(group_key, _Group()).atime = time.time()
        folder = self.root / group_key[0] / group_key[1]
        temporary = folder / f"{sop}.{next(self._serial)}.tmp"
        try:
            try:
                temporary.write_bytes(data)
            except FileNotFoundError:  # the series' first instance
                folder.mkdir(parents=True, exist_ok=True)
                temporary.write_bytes(data)
            os.replace(temporary, folder / f"{sop}.dcm")
        except OSError:
            temporary.unlink(missing_ok=True)
            with self._lock:
                self.size -= len(data)
            return False
        with self._lock:
            group = self._groups.setdefault(group_key, _Group())
            self.size -= group.sizes.get(sop, 0)
            group.sizes[sop] = len(data)
            group.syntaxes[sop] = syntax
            group.durable.discard(sop)
            self._where[sop] = group_key
            created.append((group_key, sop))
        return True

    def _seal(self, study: str, created: list[tuple[GroupKey, str]],
              write_study: bool = False) -> None:
        """In the background: fsync the new files and their folders, then rewrite the indexes
        of the series touched (and ``study.json``); the study stays pinned meanwhile."""
        with self._lock:
            self._pins[study] += 1
        thread = threading.Thread(target=self._sealing, args=(study, created, write_study),
                                  name=f"cache-seal-{study}", daemon=True)
        with self._lock:
            self._sealers = [t for t in self._sealers if t.is_alive()] + [thread]
        thread.start()

    def _sealing(self, study: str, created: list[tuple[GroupKey, str]], write_study: bool) -> None:
        try:
            for group_key, sop in created:
                _fsync(self.root / group_key[0] / group_key[1] / f"{sop}.dcm")
            groups = {g for g, _ in created}
            with self._lock:
                for group_key, sop in created:
                    if group_key in self._groups:
                        self._groups[group_key].durable.add(sop)
                groups |= {k for k in self._groups if k[0] == study and self._groups[k].complete}
            for group_key in groups:
                _fsync(self.root / group_key[0] / group_key[1])
                with self._lock:
                    group = self._groups.get(group_key)
                    if group is None:
                        continue
                    durable = {s: n for s, n in group.sizes.items() if s in group.durable}
                    complete = group.complete if group.complete and all(
                        s in durable for s in group.complete) else None
                    index = {"instances": durable, "complete": complete,
                             "syntaxes": {s: group.syntaxes[s] for s in durable
                                          if s in group.syntaxes}}
                _write_json(self.root / group_key[0] / group_key[1] / INDEX, index)
            with self._lock:
                listed = self._studies.get(study) if write_study else None
            if listed is not None:
                _write_json(self.root / study / STUDY, {"series": listed})
        finally:
            self._unpin(study)

    def _read(self, sop: str) -> bytes | None:
        with self._lock:
            where = self._where.get(sop)
        if where is None:
            return None
        try:
            return (self.root / where[0] / where[1] / f"{sop}.dcm").read_bytes()
        except FileNotFoundError:
            return None

    def _touch(self, study: str, listing: list[str]) -> None:
        now = time.time()
        with self._lock:
            touched = {self._where[sop] for sop in listing if sop in self._where}
            for key in touched:
                self._groups[key].atime = now
        for key in touched:
            self._utime(key, now)

    def _utime(self, key: GroupKey, when: float | None = None) -> None:
        try:
            os.utime(self.root / key[0] / key[1], None if when is None else (when, when))
        except FileNotFoundError:
            pass

    def _load(self) -> None:
        """Rebuild the index from disk: only what an ``index.json`` lists, with its size."""
        for study_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for series_dir in sorted(p for p in study_dir.iterdir() if p.is_dir()):
                self._load_series(study_dir.name, series_dir)
            listed = _read_json(study_dir / STUDY)
            series = listed.get("series") if listed else None
            if isinstance(series, list) and all(
                    (g := self._groups.get((study_dir.name, s))) and g.complete for s in series):
                self._studies[study_dir.name] = series
            for path in study_dir.iterdir():
                if path.is_file() and not (path.name == STUDY and study_dir.name in self._studies):
                    path.unlink()
            if not any(study_dir.iterdir()):
                study_dir.rmdir()
        with self._lock:
            self._make_room(0)

    def _load_series(self, study: str, folder: Path) -> None:
        atime = folder.stat().st_mtime
        index = _read_json(folder / INDEX)
        if not (UID.match(study) and UID.match(folder.name) and index):
            shutil.rmtree(folder, ignore_errors=True)
            return
        group = _Group(atime=atime)
        for sop, size in dict(index.get("instances") or {}).items():
            path = folder / f"{sop}.dcm"
            if UID.match(sop) and path.is_file() and path.stat().st_size == size:
                group.sizes[sop] = size
        syntaxes = index.get("syntaxes")
        if isinstance(syntaxes, dict):
            group.syntaxes = {sop: uid for sop, uid in syntaxes.items()
                              if sop in group.sizes and isinstance(uid, str) and UID.match(uid)}
        complete = index.get("complete")
        if isinstance(complete, list) and all(sop in group.sizes for sop in complete):
            group.complete = complete
        keep = {f"{sop}.dcm" for sop in group.sizes} | {INDEX}
        for path in folder.iterdir():
            if path.name not in keep:
                path.unlink()
        if not group.sizes:
            shutil.rmtree(folder, ignore_errors=True)
            return
        os.utime(folder, (atime, atime))
        group.durable = set(group.sizes)
        key = (study, folder.name)
        self._groups[key] = group
        for sop, size in group.sizes.items():
            self._where[sop] = key
            self.size += size


class _Writer:
    """A transfer's instances written to the cache by a thread of its own, behind the sending
    (creating, writing and renaming a file takes ~1 ms an instance on a busy disk): at most
    ``WRITE_AHEAD`` bytes wait in memory, and each instance is listed for the transfer's
    followers once it is on disk. After a write fails (or the cache cannot hold an instance)
    it takes nothing more, and the transfer goes on uncached."""

    def __init__(self, cache: InstanceCache, transfer: _Transfer,
                 created: list[tuple[GroupKey, str]]) -> None:
        self._cache = cache
        self._transfer = transfer
        self._created = created
        self._cond = threading.Condition()
        self._items: deque[tuple[GroupKey, str, bytes, str] | None] = deque()
        self._queued = 0
        self._failed = False
        self._thread = threading.Thread(target=self._run, name="cache-write", daemon=True)
        self._thread.start()

    def put(self, group_key: GroupKey, sop: str, data: bytes, syntax: str) -> bool:
        """Queue an instance (waiting while ``WRITE_AHEAD`` bytes are); ``False`` once writing
        has failed."""
        with self._cond:
            while self._queued >= WRITE_AHEAD and not self._failed:
                self._cond.wait()
            if self._failed:
                return False
            self._items.append((group_key, sop, data, syntax))
            self._queued += len(data)
            self._cond.notify_all()
        return True

    def close(self, cancel: bool = False) -> bool:
        """Wait until what is queued is on disk (dropped when ``cancel``); ``True`` if every
        instance put was written."""
        with self._cond:
            self._failed = self._failed or cancel
            self._items.append(None)
            self._cond.notify_all()
        self._thread.join()
        return not self._failed

    def _run(self) -> None:
        cache = self._cache
        while True:
            with self._cond:
                while not self._items:
                    self._cond.wait()
                item = self._items.popleft()
                failed = self._failed
            if item is None:
                return
            group_key, sop, data, syntax = item
            try:
                written = not failed and cache._store(group_key, sop, data, syntax,
                                                      self._created)
            except Exception:  # a bug: stop caching, but never leave the transfer waiting
                log.exception("writing instance %s to the cache failed", sop)
                written = False
            if written:
                with cache._lock:
                    self._transfer.written.append(sop)
                    cache._changed.notify_all()
            with self._cond:
                self._queued -= len(data)
                self._failed = self._failed or not written
                self._cond.notify_all()


def _uids(data: bytes) -> tuple[str, str, str, str]:
    """(study, series, SOP instance) UIDs of a Part 10 instance, checked as file-name safe, and
    its transfer syntax."""
    try:
        found = header(data)
        uids = (found.study_instance_uid, found.series_instance_uid, found.sop_instance_uid)
    except (InvalidDicomError, AttributeError, ValueError, EOFError) as exc:
        raise PacsError(f"PACS sent an unreadable DICOM instance: {exc}") from exc
    if not all(UID.match(uid) and len(uid) <= 64 for uid in uids):
        raise PacsError(f"PACS sent an instance with malformed UIDs {uids}")
    return (*uids, found.transfer_syntax_uid)


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return  # evicted or discarded meanwhile
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_json(path: Path, value: object) -> None:
    """Atomic and durable: temporary name, fsync, rename."""
    temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("w") as out:
            json.dump(value, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except FileNotFoundError:
        temporary.unlink(missing_ok=True)  # the series was evicted meanwhile


def _read_json(path: Path) -> dict[str, object] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
