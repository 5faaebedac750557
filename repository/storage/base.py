"""The document store interface: bytes by key, written whole or not at all."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import BinaryIO

#: read size of streamed copies
CHUNK = 1024 * 1024


class DocumentNotFound(KeyError):
    """No object is stored under this key."""


class DocumentStore(ABC):
    """Where document bytes live. ``put`` is atomic: a reader sees the whole object or none,
    so a crash never leaves a half-written document behind a key."""

    @abstractmethod
    def put(self, key: str, data: BinaryIO) -> None:
        """Store the stream under ``key`` (read in chunks, never whole in memory)."""

    @abstractmethod
    def open(self, key: str) -> Iterator[bytes]:
        """The stored bytes in chunks; raises ``DocumentNotFound``."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    def read(self, key: str) -> bytes:
        return b"".join(self.open(key))
