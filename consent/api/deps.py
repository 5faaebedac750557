"""What every consent route needs: settings, the database and the validator of callers' bearer
tokens, built once in ``consent.main``."""

from __future__ import annotations

from dataclasses import dataclass, field

from consent.core.config import ConsentSettings
from partage.auth import TokenValidator
from partage.db import Database


@dataclass
class ConsentContext:
    settings: ConsentSettings
    db: Database
    tokens: TokenValidator = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.settings.token_validator()
