"""Document stores: the file back end's atomic writes, and the S3 back end against moto's S3
server over HTTP (and the whole ITI-41 → ITI-43 path on it)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from ihe.ebrim import DocumentRequest, ExtrinsicObject, ResponseStatus, RetrieveDocumentSetRequest
from partage.devissuer import DevIssuer
from partage.serve import background, free_port
from partage.soapclient import XdsClient
from repository.core.config import RepositorySettings
from repository.storage import DocumentNotFound, DocumentStore, FileStore, S3Store
from tests.repository.conftest import REPOSITORY_UID, serve
from tests.repository.factories import PeerRegistry, pnr


class Exploding(io.RawIOBase):
    """A stream that fails after yielding ``good`` bytes, like a dropped upload."""

    def __init__(self, good: bytes) -> None:
        self.good = io.BytesIO(good)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        chunk = self.good.read(len(buffer))
        if not chunk:
            raise OSError("connection reset")
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_store(endpoint: str, bucket: str) -> S3Store:
    store = S3Store(bucket, endpoint_url=endpoint, access_key="test", secret_key="test")
    store.ensure_bucket()
    return store


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> DocumentStore:
    if request.param == "file":
        return FileStore(tmp_path / "docs")
    return s3_store(request.getfixturevalue("s3_endpoint"), f"b-{tmp_path.name.lower()[-40:]}")


def test_put_read_delete(store: DocumentStore) -> None:
    data = bytes(range(256)) * 5000  # spans several read chunks
    store.put("ab/key1", io.BytesIO(data))
    assert store.exists("ab/key1")
    assert store.read("ab/key1") == data
    store.delete("ab/key1")
    store.delete("ab/key1")
    assert not store.exists("ab/key1")
    with pytest.raises(DocumentNotFound):
        store.read("ab/key1")


def test_failed_write_leaves_nothing(store: DocumentStore) -> None:
    with pytest.raises(OSError):
        store.put("cd/key2", io.BufferedReader(Exploding(b"x" * 100_000)))
    assert not store.exists("cd/key2")


def test_file_store_keeps_the_old_object_and_no_temporary_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.put("ef/key", io.BytesIO(b"old"))
    with pytest.raises(OSError):
        store.put("ef/key", io.BufferedReader(Exploding(b"new" * 1000)))
    assert store.read("ef/key") == b"old"
    assert sorted(p.name for p in (tmp_path / "ef").iterdir()) == ["key"]


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../../b", ""])
def test_file_store_refuses_keys_outside_its_folder(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError):
        FileStore(tmp_path).put(key, io.BytesIO(b"x"))


def test_repository_on_s3(s3_endpoint: str, tmp_path: Path, database_url: str,
                          issuer: DevIssuer) -> None:
    peer = PeerRegistry()
    client = XdsClient(timeout=10)
    with background(peer.app()) as registry:
        settings = RepositorySettings(
            database_url=database_url, data_dir=tmp_path, repository_unique_id=REPOSITORY_UID,
            registry_url=f"{registry.url}/registry", storage="s3", s3_endpoint_url=s3_endpoint,
            s3_bucket=f"repo-{tmp_path.name.lower()[-30:]}", s3_access_key="test",
            s3_secret_key="test",
        )
        for running in serve(settings, peer, client, issuer):
            request = pnr(b"on s3\n")
            assert client.provide_and_register(
                running.endpoint, request, running.source_token()).status == ResponseStatus.SUCCESS
            uid = next(o for o in request.submission.objects
                       if isinstance(o, ExtrinsicObject)).unique_id or ""
            got = running.retrieve(RetrieveDocumentSetRequest(
                [DocumentRequest(REPOSITORY_UID, uid)]))
            assert [d.data for d in got.documents] == [b"on s3\n"]
            assert running.stored_files() == []  # nothing went to the local folder
