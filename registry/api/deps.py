"""What every registry route needs: settings, the database, the affinity-domain code set."""

from __future__ import annotations

from dataclasses import dataclass

from partage.db import Database
from registry.codes import CodeSet
from registry.core.config import RegistrySettings


@dataclass
class RegistryContext:
    settings: RegistrySettings
    db: Database
    codes: CodeSet | None

    @classmethod
    def build(cls, settings: RegistrySettings, db: Database) -> RegistryContext:
        codes = CodeSet.from_file(settings.codes_file) if settings.codes_file else None
        return cls(settings=settings, db=db, codes=codes)
