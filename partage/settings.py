"""Settings common to every service; each service subclasses ``ServiceSettings`` with its own
environment prefix (``PARTAGE_REGISTRY_``, ``PARTAGE_REPOSITORY_`` …)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "partage"


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARTAGE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = DEFAULT_DATA_DIR
    #: SQLAlchemy URL; empty means an SQLite file under ``data_dir``.
    database_url: str = ""
    #: Largest request body accepted, in bytes (bigger ones are refused before parsing).
    max_body_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    log_level: str = "INFO"
    log_json: bool = True

    def sqlite_name(self) -> str:
        """File name of the embedded database; overridden per service."""
        return "partage.sqlite"

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.data_dir / self.sqlite_name()}"
