"""Registry at scale: ITI-18 FindDocuments latency at a small and a large size, and ITI-42
throughput, over real HTTP against the registry served on loopback.

The registry under test runs as it is deployed, ``partage serve registry`` (one uvicorn
process, settings from the environment), in a process of its own: the load generator does not
share its interpreter (nor its GIL). The database is created for the run and dropped after it.
It is loaded directly (``bench.loader``) to the small size at ``ENTRIES_PER_PATIENT`` entries
per patient, measured, grown with new patients at the same density to the large size, measured
again; then ITI-42 submissions are registered through the SOAP endpoint by a few concurrent
clients, first of several KOS entries each (a publisher catching up on a backlog), then of one
each (a gateway publishing studies as they complete). Queries carry a radiologist's bearer token from a
development issuer the registry trusts, registrations the repository's (the registry's writer),
so each one pays for its token check as deployed.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench import soapclient
from bench.loader import load, plan
from bench.synthetic import DCM, IHE_CLASS, MODALITIES, Region, patient_cx
from ihe.ebrim import AdhocQueryRequest
from ihe.soap import Action
from partage.db import make_engine, migrate
from partage.devissuer import DevIssuer
from partage.serve import free_port
from partage.sources import REPOSITORY
from registry.main import ALEMBIC_DIR

POSTGRES_URL_ENV = "PARTAGE_BENCH_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ENTRIES_PER_PATIENT = 100
#: seed of the Region whose submissions go through ITI-42 (loaded chunks use patient numbers)
REGISTER_SEED = 10**9

TARGET_P99_MS = 50.0
TARGET_RATIO = 2.0
TARGET_REGISTER_PER_S = 500.0
#: uvicorn processes serving the registry: one, as ``partage serve registry`` deploys it
SERVER_WORKERS = 1
SERVER_COMMAND = (sys.executable, "-m", "partage.cli", "serve", "registry")


@dataclass(frozen=True)
class Config:
    """Sizes and bounds of one run; every loop below has a count and a deadline."""

    backend: str = "postgresql"
    small: int = 10_000
    large: int = 1_000_000
    queries: int = 1000
    warmup: int = 50
    #: ITI-42 submissions of each kind: enough for a few seconds, a figure steadier than 1 s
    submissions: int = 1000
    docs_per_submission: int = 5
    register_threads: int = 4
    workers: int = os.cpu_count() or 1
    chunk_entries: int = 5000
    load_seconds: float = 3600.0
    measure_seconds: float = 180.0

    @classmethod
    def for_run(cls, backend: str, quick: bool) -> Config:
        """The sizes of ``partage bench registry``; ``quick`` fits in five minutes here."""
        large = {("sqlite", False): 100_000, ("sqlite", True): 50_000,
                 ("postgresql", False): 1_000_000, ("postgresql", True): 100_000}[backend, quick]
        if quick:
            return cls(backend=backend, large=large, queries=200, warmup=20, submissions=400,
                       measure_seconds=45.0)
        return cls(backend=backend, large=large)


@contextmanager
def database(backend: str) -> Iterator[str]:
    """A new, empty database for the run (PostgreSQL database or SQLite file), removed after."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="partage-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'registry.sqlite'}"
        return
    admin = os.environ.get(POSTGRES_URL_ENV, DEFAULT_POSTGRES_URL)
    name = f"partage_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def served(db_url: str, data_dir: Path, issuer: str, timeout: float = 60.0) -> Iterator[str]:
    """``partage serve registry`` on a free loopback port in a child process, configured by
    environment as in deployment (trusting ``issuer``); its base URL once /health answers.
    Its log goes to ``data_dir/registry.log`` (quoted if it fails to start)."""
    port = free_port()
    env = {
        **os.environ,
        "PARTAGE_REGISTRY_DATABASE_URL": db_url,
        "PARTAGE_REGISTRY_HOST": "127.0.0.1",
        "PARTAGE_REGISTRY_PORT": str(port),
        "PARTAGE_REGISTRY_DATA_DIR": str(data_dir),
        "PARTAGE_REGISTRY_MLLP_PORT": "0",
        "PARTAGE_REGISTRY_ISSUER": issuer,
    }
    log_path = data_dir / "registry.log"
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(SERVER_COMMAND, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text("utf-8", "replace")[-2000:]
                raise RuntimeError(f"registry did not start on {url}:\n{tail}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _requests(patients: int, count: int, seed: int) -> list[AdhocQueryRequest]:
    """The query mix of a portal: by patient, half of them narrowed by class, modality or a
    service-time window (as the prior-study panel does)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        patient = patient_cx(rng.randrange(patients))
        kind = rng.random()
        if kind < 0.5:
            out.append(soapclient.find_documents(patient))
        elif kind < 0.7:
            out.append(soapclient.find_documents(patient, ClassCode=[f"('IMAGES^^{IHE_CLASS}')"]))
        elif kind < 0.85:
            modality = rng.choice(list(MODALITIES))
            out.append(
                soapclient.find_documents(patient, EventCodeList=[f"('{modality}^^{DCM}')"]))
        else:
            year = rng.randrange(2008, 2024)
            out.append(soapclient.find_documents(
                patient, ServiceStartTimeFrom=[f"{year}0101"],
                ServiceStartTimeTo=[f"{year + 3}0101"],
            ))
    return out


def _percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))]


def measure_queries(url: str, patients: int, cfg: Config, token: str) -> dict[str, float]:
    """FindDocuments latencies in ms (p50, p99) and the mean number of entries answered,
    asked with the bearer ``token``."""
    requests = _requests(patients, cfg.warmup + cfg.queries, seed=patients)
    bodies = [soapclient.envelope(Action.STORED_QUERY, r, url) for r in requests]
    deadline = time.monotonic() + cfg.measure_seconds
    latencies: list[float] = []
    returned = 0
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"}) as client:
        for i, body in enumerate(bodies):
            if time.monotonic() > deadline:
                break
            elapsed, count = soapclient.query_bytes(client, url, body)
            if i >= cfg.warmup:
                latencies.append(elapsed * 1000)
                returned += count
    if not latencies:
        raise TimeoutError("no FindDocuments measured before the deadline")
    return {"p50": _percentile(latencies, 50), "p99": _percentile(latencies, 99),
            "mean_results": returned / len(latencies), "samples": len(latencies)}


def measure_registrations(url: str, patients: int, cfg: Config, docs: int, seed: int,
                          token: str) -> float:
    """Document entries registered per second by ITI-42 submissions of ``docs`` entries each,
    ``register_threads`` clients at a time (``seed``: the Region whose UIDs they use), sent
    with the repository's bearer ``token`` as the repository forwards them."""
    region = Region(seed)
    rng = random.Random(seed)
    # serialised before the clock starts: the load generator's own work is not measured
    bodies = [
        soapclient.envelope(Action.REGISTER, region.submission(rng.randrange(patients), docs), url)
        for _ in range(cfg.submissions)
    ]
    deadline = time.monotonic() + cfg.measure_seconds

    def send(batch: list[bytes]) -> int:
        done = 0
        with httpx.Client(timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
            for body in batch:
                if time.monotonic() > deadline:
                    break
                soapclient.register_bytes(client, url, body)
                done += docs
        return done

    threads = cfg.register_threads
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        registered = sum(pool.map(send, [bodies[i::threads] for i in range(threads)]))
    return registered / (time.perf_counter() - start)


def run(cfg: Config) -> dict[str, Any]:
    """Load, measure, grow, measure, register; the figures as one flat dict."""
    if cfg.small % ENTRIES_PER_PATIENT or cfg.large % ENTRIES_PER_PATIENT:
        raise ValueError(f"sizes must be multiples of {ENTRIES_PER_PATIENT} entries")
    small_patients = cfg.small // ENTRIES_PER_PATIENT
    large_patients = cfg.large // ENTRIES_PER_PATIENT
    deadline = time.monotonic() + cfg.load_seconds
    with database(cfg.backend) as db_url, tempfile.TemporaryDirectory() as data_dir, \
            DevIssuer.running() as issuer:
        token = issuer.token("dr-bench", ["radiologist"], lifetime_s=24 * 3600)
        writer = issuer.token("repository", [REPOSITORY], lifetime_s=24 * 3600)
        engine = make_engine(db_url)
        try:
            migrate(engine, ALEMBIC_DIR)  # the server would too; the loader needs the schema
            with served(db_url, Path(data_dir), issuer.url) as server_url:
                endpoint = f"{server_url}/registry"
                load(engine, plan(0, small_patients, cfg.small, cfg.chunk_entries),
                     workers=cfg.workers, deadline=deadline, label=f"{cfg.backend} {cfg.small:,}")
                small = measure_queries(endpoint, small_patients, cfg, token)
                rate = load(
                    engine,
                    plan(small_patients, large_patients - small_patients,
                         cfg.large - cfg.small, cfg.chunk_entries),
                    workers=cfg.workers, deadline=deadline,
                    label=f"{cfg.backend} {cfg.small:,} → {cfg.large:,}",
                )
                large = measure_queries(endpoint, large_patients, cfg, token)
                register = measure_registrations(endpoint, large_patients, cfg,
                                                 cfg.docs_per_submission, REGISTER_SEED, writer)
                # a gateway publishing as studies complete: one KOS per submission
                single = measure_registrations(endpoint, large_patients, cfg, 1,
                                               REGISTER_SEED + 1, writer)
        finally:
            engine.dispose()
    ratio = large["p99"] / small["p99"]
    return {
        "backend": cfg.backend,
        "server": "partage serve registry (own process)",
        "server_workers": SERVER_WORKERS,
        "register_clients": cfg.register_threads,
        "entries_10k": cfg.small,
        "entries_1m": cfg.large,
        "patients_10k": small_patients,
        "patients_1m": large_patients,
        "find_documents_p50_ms_10k": round(small["p50"], 2),
        "find_documents_p99_ms_10k": round(small["p99"], 2),
        "find_documents_p50_ms_1m": round(large["p50"], 2),
        "find_documents_p99_ms_1m": round(large["p99"], 2),
        "find_documents_mean_results_1m": round(large["mean_results"], 1),
        "find_documents_queries": int(small["samples"] + large["samples"]),
        "p99_ratio_1m_10k": round(ratio, 2),
        "register_docs_per_submission": cfg.docs_per_submission,
        "register_docs_per_s": round(register, 1),
        "register_single_docs_per_s": round(single, 1),
        "load_entries_per_s": round(rate, 1),
        "targets_met": (large["p99"] <= TARGET_P99_MS and ratio <= TARGET_RATIO
                        and register >= TARGET_REGISTER_PER_S),
    }


def table(result: dict[str, Any]) -> str:
    """The human report: figures, targets and whether each is met."""
    r = result
    small, large = f"{r['entries_10k']:,}", f"{r['entries_1m']:,}"
    p99, ratio, register = (r["find_documents_p99_ms_1m"], r["p99_ratio_1m_10k"],
                            r["register_docs_per_s"])
    rows = [
        (f"FindDocuments p50 at {small}", f"{r['find_documents_p50_ms_10k']} ms", "", None),
        (f"FindDocuments p99 at {small}", f"{r['find_documents_p99_ms_10k']} ms", "", None),
        (f"FindDocuments p50 at {large}", f"{r['find_documents_p50_ms_1m']} ms", "", None),
        (f"FindDocuments p99 at {large}", f"{p99} ms", f"<= {TARGET_P99_MS:g} ms",
         p99 <= TARGET_P99_MS),
        (f"p99 ratio {large} / {small}", f"{ratio}", f"<= {TARGET_RATIO:g}", ratio <= TARGET_RATIO),
        (f"ITI-42, {r['register_docs_per_submission']} entries per submission",
         f"{register} entries/s", f">= {TARGET_REGISTER_PER_S:g}/s",
         register >= TARGET_REGISTER_PER_S),
        ("ITI-42, 1 entry per submission", f"{r['register_single_docs_per_s']} entries/s", "",
         None),
        ("bulk load", f"{r['load_entries_per_s']} entries/s", "", None),
    ]
    head = (f"Partage registry benchmark — {r['backend']}, {large} entries over "
            f"{r['patients_1m']:,} patients ({ENTRIES_PER_PATIENT} per patient), "
            f"mean answer {r['find_documents_mean_results_1m']} entries")
    lines = [head, f"{'metric':<36}{'value':>20}  {'target':<12}"]
    lines += [f"{name:<36}{value:>20}  {target:<12}{'' if ok is None else 'ok' if ok else 'MISSED'}"
              for name, value, target, ok in rows]
    return "\n".join(lines)
