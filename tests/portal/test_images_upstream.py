"""A gateway that breaks off mid-answer (a crash, a cut connection): the proxy must abort its
own answer rather than end a short body cleanly, and the zip and the send must fail rather than
pass a short study for a whole one. The gateway here is a socket that answers 200, sends part of
its body and closes, the one failure a healthy gateway cannot be made to show on demand."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from ihe.kos import Device, Manifest, RetrieveLocation, Series, Study
from ihe.kos import Instance as KosInstance
from partage.serve import background
from portal.imaging.download import zip_stream
from portal.imaging.manifests import SharedStudy, shared_study
from portal.imaging.proxy import forward, target
from portal.imaging.retrieve import RetrieveError, shared_instances
from portal.imaging.sites import Site

CT = "1.2.840.10008.5.1.4.1.1.2"
STUDY, SERIES, SOP = "1.2.3.4", "1.2.3.4.1", "1.2.3.4.1.1"
FRAME_PATH = f"studies/{STUDY}/series/{SERIES}/instances/{SOP}/frames/1"


class BreakingPeer:
    """Answers every request with 200, ``head`` headers and ``body``, then closes the
    connection whatever the headers promised."""

    def __init__(self, head: str, body: bytes) -> None:
        self.answer = f"HTTP/1.1 200 OK\r\n{head}\r\n\r\n".encode() + body
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                request = b""
                while b"\r\n\r\n" not in request:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    request += chunk
                conn.sendall(self.answer)

    def close(self) -> None:
        self.sock.close()

    @property
    def site(self) -> Site:
        return Site("1.2.250.1.999.1.1", "CHU Nord", "1.2.250.1.999.1.1.2",
                    f"http://127.0.0.1:{self.port}/wado-rs", True)


@pytest.fixture
def shared() -> SharedStudy:
    evidence = Study(STUDY, patient_id="IPP1", series=[
        Series(SERIES, "CT", instances=[KosInstance(CT, SOP)])])
    manifest = Manifest([evidence], sop_instance_uid="1.2.3.9.1", series_instance_uid="1.2.3.9",
                        content_datetime=datetime(2024, 3, 1, 12),
                        retrieve=RetrieveLocation("1.2.250.1.999.1.1.2", "GW"),
                        device=Device("1.2.3.8", "gw", "Partage"))
    return shared_study("doc-1", manifest)


@pytest.fixture(params=["chunked", "content-length"])
def peer(request: pytest.FixtureRequest) -> Iterator[BreakingPeer]:
    framing = ("Transfer-Encoding: chunked" if request.param == "chunked"
               else "Content-Length: 100000")
    body = b"400\r\n" + b"x" * 200 if request.param == "chunked" else b"x" * 5000
    running = BreakingPeer(
        'Content-Type: multipart/related; type="application/octet-stream"; boundary=b\r\n'
        + framing, body)
    yield running
    running.close()


def proxy_app(site: Site, shared: SharedStudy) -> FastAPI:
    """``forward`` served by uvicorn as the portal serves it, with one client for the app's
    life (the body is streamed after the route has returned)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient() as http:
            app.state.http = http
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/frame")
    async def frame(request: Request) -> Response:
        return await forward(request.app.state.http, site, target(shared, FRAME_PATH), "token",
                             accept=None, query="")

    return app


def test_the_proxy_aborts_its_answer_when_the_gateway_breaks_off(
        peer: BreakingPeer, shared: SharedStudy) -> None:
    """The browser sees a broken answer, never a 200 that ends cleanly."""
    with background(proxy_app(peer.site, shared)) as portal, \
            pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        httpx.get(f"{portal.url}/frame", timeout=10)


def test_a_whole_answer_goes_through_the_same_way(shared: SharedStudy) -> None:
    """The control: the same peer sending all it announced gives a clean 200."""
    whole = BreakingPeer("Content-Type: application/octet-stream\r\nContent-Length: 5", b"12345")
    try:
        with background(proxy_app(whole.site, shared)) as portal:
            answer = httpx.get(f"{portal.url}/frame", timeout=10)
        assert (answer.status_code, answer.content) == (200, b"12345")
    finally:
        whole.close()


def test_a_series_cut_short_fails_the_download(peer: BreakingPeer, shared: SharedStudy) -> None:
    async def download() -> None:
        async with httpx.AsyncClient() as http:
            async def site_of(_: object) -> Site:
                return peer.site

            instances = shared_instances(http, shared, "token", site_of)
            async for _ in zip_stream(instances):
                pass

    with pytest.raises(RetrieveError, match="broke off|truncated|closing boundary"):
        asyncio.run(download())
