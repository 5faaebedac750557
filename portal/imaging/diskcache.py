"""A bounded on-disk cache of small proxied answers (series metadata as DICOM JSON): the portal
keeps nothing of a study beyond it (issue 4), and it never grows past ``max_bytes``, the least
recently used entries going first. Entries survive a restart (the index is rebuilt from the
files, oldest first); each is written to a temporary name and renamed, so a crash never leaves
a half-written entry under its real name."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path


class DiskCache:
    """Bytes by string key under ``root``, at most ``max_bytes`` in all. Thread-safe."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._sizes: OrderedDict[str, int] = OrderedDict()
        self._total = 0
        root.mkdir(parents=True, exist_ok=True)
        for path in sorted(root.glob("*.entry"), key=lambda p: p.stat().st_mtime):
            self._sizes[path.stem] = path.stat().st_size
            self._total += path.stat().st_size
        for stale in root.glob("*.tmp"):
            stale.unlink(missing_ok=True)
        with self._lock:
            self._evict()

    @property
    def total_bytes(self) -> int:
        return self._total

    def _path(self, name: str) -> Path:
        return self.root / f"{name}.entry"

    @staticmethod
    def _name(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def get(self, key: str) -> bytes | None:
        name = self._name(key)
        with self._lock:
            if name not in self._sizes:
                return None
            self._sizes.move_to_end(name)
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            with self._lock:
                self._total -= self._sizes.pop(name, 0)
            return None

    def put(self, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key``; an entry larger than the whole cache is not kept."""
        if len(data) > self.max_bytes:
            return
        name = self._name(key)
        temporary = self.root / f"{name}.{threading.get_ident()}.tmp"
        temporary.write_bytes(data)
        os.replace(temporary, self._path(name))
        with self._lock:
            self._total += len(data) - self._sizes.pop(name, 0)
            self._sizes[name] = len(data)
            self._evict()

    def _evict(self) -> None:
        while self._total > self.max_bytes and self._sizes:
            name, size = self._sizes.popitem(last=False)
            self._path(name).unlink(missing_ok=True)
            self._total -= size
