"""Bulk loading of synthetic registry content, fast enough for a million document entries.

Submissions are built as ebRIM objects (``bench.synthetic``) and turned into the rows ITI-42
stores (``bench.rows``) in worker processes; the parent writes them with PostgreSQL ``COPY``
or, on SQLite, SQLAlchemy Core ``executemany``. Patients are planned in chunks so a database
can be grown in phases at a constant density (entries per patient).
"""

from __future__ import annotations

import random
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from multiprocessing import get_context

from sqlalchemy import Engine, func, insert, select, text

from bench.rows import CODE_COLUMNS, OBJECT_COLUMNS, ObjectRow, object_row
from bench.synthetic import SITES, Region, patient_cx
from ihe.ebrim import Status
from registry.models import Patient, RegistryObjectRow, Site

#: a submission carries 1 to this many studies (a gateway catching up sends several)
MAX_STUDIES_PER_SUBMISSION = 5
FAMILY_NAMES = ["MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS",
                "MOREAU", "LAURENT", "SIMON", "MICHEL", "LEFEBVRE", "LEROY", "ROUX", "DAVID"]
GIVEN_NAMES = ["Jean", "Marie", "Louise", "Pierre", "Camille", "Lucas", "Chloe", "Hugo", "Lea"]


@dataclass(frozen=True)
class Chunk:
    """Patients loaded together: ``(patient index, number of studies)``; ``seed`` is unique."""

    seed: int
    patients: tuple[tuple[int, int], ...]


@dataclass
class Batch:
    """The rows of one chunk; code rows point at their object by index into ``objects``."""

    objects: list[ObjectRow] = field(default_factory=list)
    codes: list[tuple[int, str, str, str]] = field(default_factory=list)
    patients: list[int] = field(default_factory=list)
    entries: int = 0


def plan(first_patient: int, patients: int, entries: int, chunk_entries: int) -> list[Chunk]:
    """Spread ``entries`` studies over patients ``first_patient ..`` (+``patients``), gamma
    distributed (most patients near the mean, a few with two or three times more)."""
    if patients < 1 or entries < patients:
        raise ValueError("need at least one patient and one entry per patient")
    rng = random.Random(first_patient * 1_000_003 + entries)
    weights = [rng.gammavariate(4.0, 1.0) for _ in range(patients)]
    total = sum(weights)
    counts = [max(1, int(entries * w / total)) for w in weights]
    surplus = sum(counts) - entries
    step = 1 if surplus < 0 else -1
    i = 0
    while surplus:  # exact total: hand out or take back one study at a time
        if counts[i % patients] + step >= 1:
            counts[i % patients] += step
            surplus += step
        i += 1
    chunks: list[Chunk] = []
    current: list[tuple[int, int]] = []
    size = 0
    for offset, count in enumerate(counts):
        current.append((first_patient + offset, count))
        size += count
        if size >= chunk_entries:
            chunks.append(Chunk(seed=current[0][0] + 1, patients=tuple(current)))
            current, size = [], 0
    if current:
        chunks.append(Chunk(seed=current[0][0] + 1, patients=tuple(current)))
    return chunks


def build_batch(chunk: Chunk) -> Batch:
    """All rows of ``chunk``'s submissions (runs in a worker process)."""
    region = Region(chunk.seed)
    batch = Batch()
    for patient, studies in chunk.patients:
        batch.patients.append(patient)
        left = studies
        while left:
            size = min(left, region.rng.randint(1, MAX_STUDIES_PER_SUBMISSION))
            left -= size
            batch.entries += size
            for obj in region.submission(patient, size).objects:
                row, codes = object_row(obj, Status.APPROVED)  # type: ignore[arg-type]
                index = len(batch.objects)
                batch.objects.append(row)
                batch.codes.extend((index, *code) for code in codes)
    return batch


def _patient_row(index: int, now: datetime) -> dict[str, object]:
    cx = patient_cx(index)
    nir = cx.split("^", 1)[0]
    return {
        "patient_id": cx,
        "family_name": FAMILY_NAMES[index % len(FAMILY_NAMES)],
        "given_name": GIVEN_NAMES[index % len(GIVEN_NAMES)],
        "birth_date": f"19{nir[1:3]}{nir[3:5]}01",
        "sex": "M" if nir[0] == "1" else "F",
        "active": True,
        "updated_at": now,
    }


class Writer:
    """Appends batches to the registry tables, assigning ``registry_objects.id`` itself so
    code rows can reference their object without a round trip."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        with engine.connect() as conn:
            last = conn.scalar(select(func.coalesce(func.max(RegistryObjectRow.id), 0)))
        self.next_id = int(last)

    def sites(self) -> None:
        """The region's site directory, so submissions from these gateways are accepted."""
        with self.engine.begin() as conn:
            known = set(conn.scalars(select(Site.oid)))
            rows = [{"oid": s.oid, "name": s.name, "repository_unique_id": s.repository_unique_id,
                     "active": True} for s in SITES if s.oid not in known]
            if rows:
                conn.execute(insert(Site), rows)

    def write(self, batch: Batch) -> None:
        first = self.next_id + 1
        now = datetime.now(timezone.utc)
        with self.engine.begin() as conn:
            conn.execute(insert(Patient), [_patient_row(p, now) for p in batch.patients])
            if self.postgres:
                self._copy(conn.connection.driver_connection, batch, first)
            else:
                conn.execute(
                    insert(RegistryObjectRow),
                    [dict(zip(("id", *OBJECT_COLUMNS), (first + i, *row)))
                     for i, row in enumerate(batch.objects)],
                )
                conn.exec_driver_sql(
                    f"INSERT INTO object_codes ({', '.join(CODE_COLUMNS)}) VALUES (?, ?, ?, ?)",
                    [(first + i, a, c, s) for i, a, c, s in batch.codes],
                )
        self.next_id += len(batch.objects)

    @staticmethod
    def _copy(raw, batch: Batch, first: int) -> None:  # type: ignore[no-untyped-def]
        with raw.cursor() as cur:
            columns = ", ".join(("id", *OBJECT_COLUMNS))
            with cur.copy(f"COPY registry_objects ({columns}) FROM STDIN") as copy:
                for i, row in enumerate(batch.objects):
                    copy.write_row((first + i, *row))
            with cur.copy(f"COPY object_codes ({', '.join(CODE_COLUMNS)}) FROM STDIN") as copy:
                for i, attribute, code, scheme in batch.codes:
                    copy.write_row((first + i, attribute, code, scheme))

    def finish(self) -> None:
        """Move the id sequence past the ids written here and refresh planner statistics."""
        with self.engine.begin() as conn:
            if self.postgres:
                conn.execute(text(
                    "SELECT setval(pg_get_serial_sequence('registry_objects', 'id'), :last)"
                ), {"last": self.next_id})
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


class Progress:
    """One self-overwriting progress line on stderr, at most twice a second."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self.start = self.shown = time.monotonic()

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.shown >= 0.5 or self.done >= self.total:
            self.shown = now
            rate = self.done / max(now - self.start, 1e-9)
            sys.stderr.write(f"\r{self.label}: {self.done:,}/{self.total:,} entries "
                             f"({100 * self.done / self.total:.0f} %, {rate:,.0f}/s)   ")
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()


def _batches(chunks: list[Chunk], workers: int) -> Iterator[Batch]:
    """Batches in plan order, built by ``workers`` processes (in this one when 0), with a
    bounded number in flight so memory stays flat."""
    if workers == 0:
        yield from map(build_batch, chunks)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        pending: deque[Future[Batch]] = deque()
        todo = iter(chunks)
        for chunk in todo:
            pending.append(pool.submit(build_batch, chunk))
            if len(pending) >= 2 * workers:
                break
        while pending:
            batch = pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(build_batch, nxt))
            yield batch


def load(engine: Engine, chunks: list[Chunk], *, workers: int, deadline: float,
         label: str) -> float:
    """Write ``chunks`` into the registry tables; return the load rate in entries per second.
    Raise ``TimeoutError`` once ``deadline`` (``time.monotonic()``) has passed."""
    writer = Writer(engine)
    writer.sites()
    progress = Progress(label, sum(n for c in chunks for _, n in c.patients))
    for batch in _batches(chunks, workers):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{label}: loading did not finish in time")
        writer.write(batch)
        progress.add(batch.entries)
    writer.finish()
    return progress.done / max(time.monotonic() - progress.start, 1e-9)
