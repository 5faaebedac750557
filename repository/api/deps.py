"""What every repository route needs: settings, the database, the document store, the SOAP
client that forwards ITI-42 to the registry and the validator of callers' bearer tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from partage.auth import TokenValidator
from partage.db import Database
from partage.soapclient import XdsClient
from repository.core.config import RepositorySettings
from repository.storage import DocumentStore, open_store


@dataclass
class RepositoryContext:
    settings: RepositorySettings
    db: Database
    store: DocumentStore
    client: XdsClient
    tokens: TokenValidator = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = self.settings.token_validator()

    @classmethod
    def build(cls, settings: RepositorySettings, db: Database) -> RepositoryContext:
        return cls(
            settings=settings,
            db=db,
            store=open_store(settings),
            client=XdsClient(settings.wsdl_dir, timeout=settings.registry_timeout),
        )
