"""Where document bytes live: local files (default) or S3-compatible object storage."""

from __future__ import annotations

from repository.core.config import RepositorySettings
from repository.storage.base import DocumentNotFound, DocumentStore
from repository.storage.files import FileStore
from repository.storage.s3 import S3Store

__all__ = ["DocumentNotFound", "DocumentStore", "FileStore", "S3Store", "open_store"]


def open_store(settings: RepositorySettings) -> DocumentStore:
    """The store the settings name, ready to use."""
    if settings.storage == "s3":
        store = S3Store(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            region=settings.s3_region,
        )
        store.ensure_bucket()
        return store
    return FileStore(settings.documents_dir())
