"""Each service's Alembic history builds exactly the schema its models declare, on SQLite and
PostgreSQL alike (a model change without a migration fails here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from consent.main import ALEMBIC_DIR as CONSENT_ALEMBIC
from consent.models import Base as ConsentBase
from gateway.models import ALEMBIC_DIR as GATEWAY_ALEMBIC
from gateway.models import Base as GatewayBase
from partage.db import make_engine, migrate
from registry.main import ALEMBIC_DIR as REGISTRY_ALEMBIC
from registry.models import Base as RegistryBase
from repository.main import ALEMBIC_DIR as REPOSITORY_ALEMBIC
from repository.models import Base as RepositoryBase


@pytest.mark.parametrize(
    ("alembic_dir", "metadata"),
    [(REGISTRY_ALEMBIC, RegistryBase.metadata), (REPOSITORY_ALEMBIC, RepositoryBase.metadata),
     (GATEWAY_ALEMBIC, GatewayBase.metadata), (CONSENT_ALEMBIC, ConsentBase.metadata)],
    ids=["registry", "repository", "gateway", "consent"],
)
def test_migrations_match_models(database_url: str, alembic_dir: Path, metadata: MetaData) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine, alembic_dir)
        migrate(engine, alembic_dir)  # idempotent: a second start changes nothing
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
    finally:
        engine.dispose()
