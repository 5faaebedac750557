"""What every registry route needs: settings, the database, the affinity-domain code set and
the validator of callers' bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from partage.auth import TokenValidator
from partage.db import Database
from registry.codes import CodeSet
from registry.core.config import RegistrySettings


@dataclass
class RegistryContext:
    settings: RegistrySettings
    db: Database
    codes: CodeSet | None
    tokens: TokenValidator = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.settings.token_validator()

    @classmethod
    def build(cls, settings: RegistrySettings, db: Database) -> RegistryContext:
        codes = CodeSet.from_file(settings.codes_file) if settings.codes_file else None
        return cls(settings=settings, db=db, codes=codes)
