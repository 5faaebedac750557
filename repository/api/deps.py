"""What every repository route needs: settings, the database, the document store and the SOAP
client that forwards ITI-42 to the registry."""

from __future__ import annotations

from dataclasses import dataclass

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

    @classmethod
    def build(cls, settings: RepositorySettings, db: Database) -> RepositoryContext:
        return cls(
            settings=settings,
            db=db,
            store=open_store(settings),
            client=XdsClient(settings.wsdl_dir, timeout=settings.registry_timeout),
        )
