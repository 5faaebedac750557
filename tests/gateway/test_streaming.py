"""``ThreadedBody`` over real HTTP (uvicorn): every chunk in order, with its Content-Length or
chunked; a failure after the first byte aborts the body (never a short success); a client
that leaves stops the producing thread, which closes the iterator (its ``finally`` runs)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from gateway.api.streaming import ThreadedBody
from partage.serve import background

CHUNK = b"x" * 65536


class Source:
    """``count`` chunks, failing after ``fail_after`` of them; records being closed."""

    def __init__(self, count: int, fail_after: int | None = None) -> None:
        self.count = count
        self.fail_after = fail_after
        self.produced = 0
        self.closed = threading.Event()

    def chunks(self) -> Iterator[bytes]:
        try:
            for n in range(self.count):
                if n == self.fail_after:
                    raise RuntimeError("the PACS went away")
                self.produced += 1
                yield CHUNK
        finally:
            self.closed.set()


def app_for(source: Source, length: int | None) -> FastAPI:
    app = FastAPI()

    @app.get("/body")
    def body() -> ThreadedBody:
        return ThreadedBody(source.chunks(), "application/octet-stream", length, ahead=256 * 1024)

    return app


@pytest.mark.parametrize("with_length", [True, False])
def test_every_chunk_in_order(with_length: bool) -> None:
    source = Source(100)
    length = 100 * len(CHUNK) if with_length else None
    with background(app_for(source, length)) as server:
        answer = httpx.get(f"{server.url}/body", timeout=30)
    assert answer.status_code == 200 and answer.content == CHUNK * 100
    if with_length:
        assert answer.headers["content-length"] == str(100 * len(CHUNK))
    else:
        assert answer.headers["transfer-encoding"] == "chunked"
    assert source.closed.wait(5)


@pytest.mark.parametrize("with_length", [True, False])
def test_a_failure_after_the_first_byte_aborts_the_body(with_length: bool) -> None:
    source = Source(100, fail_after=40)
    length = 100 * len(CHUNK) if with_length else None
    with background(app_for(source, length)) as server:
        received = 0
        with pytest.raises(httpx.RemoteProtocolError):
            with httpx.stream("GET", f"{server.url}/body", timeout=30) as answer:
                assert answer.status_code == 200
                for chunk in answer.iter_raw():
                    received += len(chunk)
        assert received <= 40 * len(CHUNK)
    assert source.closed.is_set()


def test_a_client_that_leaves_stops_the_producer() -> None:
    source = Source(100_000)  # 6.5 GB if it went on
    with background(app_for(source, None)) as server:
        with httpx.stream("GET", f"{server.url}/body", timeout=30) as answer:
            next(answer.iter_raw())
        assert source.closed.wait(10)  # closed in its thread: the cache's pins are released
    assert source.produced < 1000  # bounded by what was queued ahead, not the whole body
