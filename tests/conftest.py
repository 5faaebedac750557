"""Shared fixtures: a fresh database per test on SQLite and, when ``PARTAGE_TEST_POSTGRES_URL``
is set (CI sets it), on PostgreSQL too; services served over real HTTP on loopback."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

CONFORMANCE = Path(
    os.environ.get(
        "PARTAGE_CONFORMANCE_DIR",
        Path(__file__).resolve().parent.parent.parent / "shared" / "conformance",
    )
)
POSTGRES_URL = os.environ.get("PARTAGE_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    assert CONFORMANCE.is_dir(), f"conformance material not found at {CONFORMANCE}"
    return CONFORMANCE


def fresh_postgres_database() -> tuple[str, str]:
    """Create an empty database on the test server; return (its URL, its name)."""
    name = f"partage_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{name}", name


def drop_postgres_database(name: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: an SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.sqlite'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PARTAGE_TEST_POSTGRES_URL is not set")
    url, name = fresh_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(name)
