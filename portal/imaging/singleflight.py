"""One lookup for many concurrent callers: when the viewer opens a study it asks for dozens of
frames at once, and each would otherwise ask the registry, the repository and the directory the
same question before the first answer is cached.

A caller that arrives while the lookup for its key runs waits for that lookup's outcome. If the
caller running it is cancelled (its browser went away), the waiters do not inherit the
cancellation: the next of them runs the lookup again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class SingleFlight:
    """Concurrent ``run(key, make)`` calls of one event loop share one ``make()``."""

    def __init__(self) -> None:
        self._pending: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
        while (pending := self._pending.get(key)) is not None:
            try:
                result: T = await asyncio.shield(pending)
                return result
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not pending.cancelled() or (task is not None and task.cancelling()):
                    raise  # this caller is the one being cancelled
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            value = await make()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._pending[key]

    def __len__(self) -> int:
        return len(self._pending)
