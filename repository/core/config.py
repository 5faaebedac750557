"""Repository settings (environment prefix ``PARTAGE_REPOSITORY_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from partage.settings import CallerSettings
from partage.soapclient import DEFAULT_WSDL_DIR


class RepositorySettings(CallerSettings):
    model_config = SettingsConfigDict(env_prefix="PARTAGE_REPOSITORY_", extra="ignore")

    port: int = 8020
    #: this repository's repositoryUniqueId (an OID), set on every DocumentEntry it stores
    repository_unique_id: str = "1.2.250.1.999.2.1"
    #: the registry's SOAP endpoint that receives ITI-42
    registry_url: str = "http://127.0.0.1:8010/registry"
    #: seconds to wait for the registry before answering XDSRegistryNotAvailable
    registry_timeout: float = Field(default=30.0, gt=0)
    #: folder of the IHE WSDLs the SOAP client is built from
    wsdl_dir: Path = DEFAULT_WSDL_DIR
    #: where document bytes live: files under ``data_dir/documents`` or an S3 bucket
    storage: Literal["file", "s3"] = "file"
    s3_endpoint_url: str | None = None
    s3_bucket: str = "partage-documents"
    s3_access_key: str | None = None
    s3_secret_key: str | None = None
    s3_region: str = "us-east-1"
    def sqlite_name(self) -> str:
        return "repository.sqlite"

    def documents_dir(self) -> Path:
        return self.data_dir / "documents"
