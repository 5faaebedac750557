"""``partage conformance SUITE``: run a NIST suite against a peer (``--against``) or, by
default, against our own registry and repository started in-process on a temporary database.

The pif patients (NIST 15817, 15817b) are fed first; each suite's preloads (12346, 12374 for
the stored queries) follow, then its tests, section by section in ``index.idx`` order.

Every transaction carries a bearer token: in-process, ones minted by the development issuer our
services trust: a reader's, and for submissions a writer's as ``partage.sources`` requires
(ITI-42 the Document Repository's, ITI-41 the gateway's of the submission's sourceId); with
``--against``, the one given (``--token`` or ``PARTAGE_CONFORMANCE_TOKEN``: it must allow the
peer's writes too).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from partage.conformance import table, transport
from partage.conformance.execute import Harness, Material, Row
from partage.conformance.feed import Feed, MllpFeed, NoFeed, RestFeed
from partage.conformance.suites import (
    FRESH_PATIENT_SUITES,
    IMAGING_SUITE,
    OWN_PATIENT_TESTS,
    PIF_TESTS,
    plan,
)
from partage.devissuer import DevIssuer
from partage.sources import REPOSITORY, SITE_GATEWAY

#: optional: run our services on this PostgreSQL server (one new database per service)
DATABASE_ENV = "PARTAGE_CONFORMANCE_DATABASE_URL"
#: bearer token for a peer's REST feed (``--feed``)
FEED_TOKEN_ENV = "PARTAGE_CONFORMANCE_FEED_TOKEN"
#: lifetime of the token an in-process run mints (a full ``all`` run takes minutes)
TOKEN_LIFETIME_S = 3600
#: the in-process repository's client (it forwards ITI-42 with its own token)
REPOSITORY_CLIENT = "repository"


@dataclass
class OwnServices:
    """Our services as a run sees them: endpoints (with a caller's token), the patient feed,
    and the development issuer they trust."""

    endpoints: transport.Endpoints
    feed: RestFeed
    issuer: DevIssuer


@contextmanager
def own_services(client: httpx.Client) -> Iterator[OwnServices]:
    """Our registry and repository over real HTTP on loopback, on SQLite in a temporary
    folder (or PostgreSQL from ``PARTAGE_CONFORMANCE_DATABASE_URL``), trusting a development
    token issuer started for the run."""
    from partage.serve import background
    from registry.core.config import RegistrySettings
    from registry.main import create_app as registry_app
    from repository.core.config import RepositorySettings
    from repository.main import create_app as repository_app

    with tempfile.TemporaryDirectory(prefix="partage-conformance-") as tmp, ExitStack() as stack:
        databases = _databases(stack)
        issuer = stack.enter_context(DevIssuer.running())
        registry_settings = RegistrySettings(
            data_dir=Path(tmp) / "registry", database_url=databases("registry"), log_json=False,
            issuer=issuer.url)
        registry = stack.enter_context(background(registry_app(registry_settings)))
        repository_settings = RepositorySettings(
            data_dir=Path(tmp) / "repository", database_url=databases("repository"),
            registry_url=f"{registry.url}/registry", log_json=False, issuer=issuer.url,
            client_id=REPOSITORY_CLIENT,
            client_secret=issuer.register_client(REPOSITORY_CLIENT, roles=[REPOSITORY]))
        repository = stack.enter_context(background(repository_app(repository_settings)))
        forwarder = issuer.token("conformance-repository", [REPOSITORY],
                                 lifetime_s=TOKEN_LIFETIME_S)

        def writer(url: str, source_id: str) -> str:
            """ITI-42 as the Document Repository sends it; ITI-41 as the gateway of the
            submission's own site."""
            if url == f"{registry.url}/registry":
                return forwarder
            return issuer.token(f"conformance-source-{source_id}", [SITE_GATEWAY],
                                site=source_id, lifetime_s=TOKEN_LIFETIME_S)

        endpoints = transport.Endpoints(
            f"{registry.url}/registry", f"{repository.url}/repository",
            repository_settings.repository_unique_id,
            issuer.token("conformance", ["radiologist"], lifetime_s=TOKEN_LIFETIME_S),
            writer_token=writer,
        )
        feed = RestFeed(client, f"{registry.url}/identity", registry_settings.feed_token)
        yield OwnServices(endpoints, feed, issuer)


def _databases(stack: ExitStack) -> Callable[[str], str]:
    """Database URL per service: empty (SQLite under data_dir) unless PostgreSQL is asked for."""
    server = os.environ.get(DATABASE_ENV, "")
    if not server:
        return lambda name: ""
    import uuid

    import psycopg

    base = server.rsplit("/", 1)[0]

    def create(name: str) -> str:
        db = f"partage_conformance_{name}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
        stack.callback(_drop, server, db)
        return f"{base}/{db}"

    return create


def _drop(server: str, db: str) -> None:
    import psycopg

    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def peer_endpoints(against: str, repository_unique_id: str = "", token: str = ""
                   ) -> transport.Endpoints:
    """A peer's base URL: its registry at ``/registry`` and repository at ``/repository``
    (Partage's layout); a URL already ending in one of these is the endpoint itself."""
    base = against.rstrip("/")
    for suffix in ("/registry", "/repository"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    return transport.Endpoints(f"{base}/registry", f"{base}/repository", repository_unique_id,
                               token)


def peer_feed(client: httpx.Client, mllp: str | None, feed: str | None) -> Feed:
    if mllp:
        host, _, port = mllp.rpartition(":")
        return MllpFeed(host or "127.0.0.1", int(port))
    if feed:
        return RestFeed(client, feed, os.environ.get(FEED_TOKEN_ENV, ""))
    return NoFeed()


def run(harness: Harness, suite: str, only: list[str] | None) -> list[Row]:
    rows: list[Row] = []
    for pif in PIF_TESTS:
        rows += harness.run_test(pif)
    for name, tests in plan(suite, only):
        patient = None
        if name in FRESH_PATIENT_SUITES:
            patient, row = harness.fresh_patient(name)
            rows.append(row)
        for test_id in tests:
            if test_id in OWN_PATIENT_TESTS:
                own, row = harness.fresh_patient(test_id)
                rows += [row] + harness.run_test(test_id, patient=own)
            else:
                rows += harness.run_test(test_id, patient=patient)
    return rows


def main(*, suite: str, against: str | None = None, material: Path | None = None,
         only: list[str] | None = None, mllp: str | None = None, feed: str | None = None,
         repository_uid: str = "", write: Callable[[str], object] = sys.stdout.write,
         dry_run: bool = False, token: str = "", rad69_url: str = "", wado_url: str = "") -> int:
    """Run ``suite`` and write its pass table; 0 only when every step passed. ``token`` is the
    bearer token sent to a peer (``against``). The ``imaging`` suite (an Imaging Document
    Source, with its endpoint URLs) has its own runner: ``partage.conformance.imaging``."""
    from partage.cli import DEFAULT_MATERIAL

    if suite == IMAGING_SUITE:
        from partage.conformance import imaging

        return imaging.main(material=Path(material or DEFAULT_MATERIAL), against=against,
                            only=only, repository_uid=repository_uid, token=token,
                            rad69_url=rad69_url, wado_url=wado_url, write=write)
    stuff = Material(Path(material or DEFAULT_MATERIAL))
    with httpx.Client(timeout=60.0) as client, ExitStack() as stack:
        if against or dry_run:
            endpoints = peer_endpoints(against or "http://127.0.0.1:9", repository_uid, token)
            peer = peer_feed(client, mllp, feed)
        else:
            own = stack.enter_context(own_services(client))
            endpoints, peer = own.endpoints, own.feed
        harness = Harness(stuff, endpoints, client, peer, dry_run=dry_run)
        rows = run(harness, suite, only)
    for line in table.lines(rows):
        write(line + "\n")
    return 0 if all(r.passed for r in rows) else 1
