"""A response body produced by a blocking iterator in one worker thread, ahead of the sending.

Starlette's ``StreamingResponse`` runs a blocking iterator by hopping to the thread pool and back
for every chunk, and asks for the next chunk only once the previous one is handed to the
socket: two round trips per instance, and the next instance is not read (from the cache or the
PACS) while one is being sent. Here one thread runs the iterator and queues its chunks, at most
``ahead`` bytes of them (memory stays bounded whatever the study's size); the event loop only
sends. A failure of the iterator after the first byte aborts the connection (the body is then
visibly incomplete: no closing chunk, or fewer bytes than its Content-Length); a client that
leaves stops the iterator, which is closed in its own thread (``GeneratorExit`` there releases
the PACS transfer and the cache's pins).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Iterator

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

#: bytes queued ahead of the socket (a few instances)
AHEAD = 2 * 1024 * 1024


class ThreadedBody(Response):
    """``chunks`` sent as the body; ``length`` (when the caller knows it) as Content-Length,
    else chunked transfer coding."""

    def __init__(self, chunks: Iterator[bytes], media_type: str, length: int | None = None,
                 ahead: int = AHEAD) -> None:
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self._chunks = chunks
        self._ahead = ahead
        self.init_headers({"content-type": media_type} if length is None else
                          {"content-type": media_type, "content-length": str(length)})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pipe = _Pipe(self._ahead, asyncio.get_running_loop())
        producer = threading.Thread(target=pipe.produce, args=(self._chunks,),
                                    name="response-body", daemon=True)
        producer.start()
        watcher = asyncio.ensure_future(_until_disconnect(receive, pipe))
        try:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            while (chunk := await pipe.take()) is not None:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()
            pipe.stop()


async def _until_disconnect(receive: Receive, pipe: _Pipe) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    pipe.stop()


class _Pipe:
    """Chunks from the producing thread to the event loop, at most ``ahead`` bytes queued."""

    def __init__(self, ahead: int, loop: asyncio.AbstractEventLoop) -> None:
        self._ahead = ahead
        self._loop = loop
        self._cond = threading.Condition()
        self._items: deque[bytes] = deque()
        self._queued = 0
        self._done = False
        self._stopped = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    # -- the producing thread ---------------------------------------------------------------

    def produce(self, chunks: Iterator[bytes]) -> None:
        try:
            for chunk in chunks:
                with self._cond:
                    while self._queued >= self._ahead and not self._stopped:
                        self._cond.wait()
                    if self._stopped:
                        return
                    self._items.append(chunk)
                    self._queued += len(chunk)
                    self._wake()
            self._end(None)
        except BaseException as exc:  # handed to the loop, which aborts the response
            self._end(exc)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _end(self, error: BaseException | None) -> None:
        with self._cond:
            self._done, self._error = True, error
            self._wake()

    def _wake(self) -> None:
        """Resume the loop if it waits for a chunk (called with the lock held)."""
        if self._waiter is not None:
            waiter, self._waiter = self._waiter, None
            self._loop.call_soon_threadsafe(_resolve, waiter)

    # -- the event loop ---------------------------------------------------------------------

    async def take(self) -> bytes | None:
        """The next chunk; ``None`` at the end (or once stopped); the iterator's exception."""
        while True:
            with self._cond:
                if self._items and not self._stopped:
                    chunk = self._items.popleft()
                    self._queued -= len(chunk)
                    self._cond.notify()
                    return chunk
                if self._stopped or (self._done and self._error is None):
                    return None
                if self._error is not None:
                    raise self._error
                waiter = self._waiter = self._loop.create_future()
            await waiter

    def stop(self) -> None:
        """No more chunks wanted: the producing thread closes the iterator and ends."""
        with self._cond:
            self._stopped = True
            self._items.clear()
            self._queued = 0
            self._cond.notify_all()


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
