"""Database engines, sessions and Alembic migrations shared by the services.

SQLite (embedded default) and PostgreSQL (production, CI) must behave the same: foreign keys
are switched on for SQLite and every service migrates its own schema with Alembic at start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def migrate(engine: Engine, script_location: Path) -> None:
    """Bring the schema to the newest Alembic revision of ``script_location``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Database:
    """An engine and its session factory; ``session()`` commits on success, rolls back on error."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._factory() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise


def add_health_check(app: FastAPI, db: Database) -> None:
    """``GET /health``: liveness with a round trip to the service's database (what compose and
    a load balancer probe)."""

    @app.get("/health", tags=["ops"], summary="Liveness and database check")
    def health() -> dict[str, str]:
        with db.session() as session:
            session.connection().exec_driver_sql("SELECT 1")
        return {"status": "ok"}
