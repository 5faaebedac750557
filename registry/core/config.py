"""Registry settings (environment prefix ``PARTAGE_REGISTRY_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from partage.settings import CallerSettings


class RegistrySettings(CallerSettings):
    """The registry calls the consent service (decisions, audits) with its own client
    credentials (``CLIENT_ID``, ``CLIENT_SECRET``; role ``service``)."""

    model_config = SettingsConfigDict(env_prefix="PARTAGE_REGISTRY_", extra="ignore")

    port: int = 8010
    #: XDSTooManyResults above this many objects in one stored-query answer
    max_query_results: int = Field(default=5000, ge=1)
    #: affinity-domain code set (NIST codes.xml format); empty: codes are not checked
    codes_file: Path | None = None
    #: keep extra (non-XDS) slots; when false they are dropped with XDSExtraMetadataNotSaved
    store_extra_metadata: bool = True
    #: HL7v2 ADT over MLLP listener port (0: disabled)
    mllp_port: int = 0
    #: assigning authority (OID) of regional patient IDs: test INS here, 1.2.250.1.213.1.4.8 in
    #: production; in ADT PID-3, the identifier of this authority is the patient key
    regional_authority: str = "1.2.250.1.213.1.4.10"
    #: largest HL7v2 message accepted over MLLP, in bytes (bigger frames are refused)
    mllp_max_message_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: bearer secret of the REST identity feed (issue 5 replaces it with client credentials)
    feed_token: str = "change-me-feed-token"
    #: the region's homeCommunityId
    home_community_id: str = "urn:oid:1.2.250.1.999.1"

    def sqlite_name(self) -> str:
        return "registry.sqlite"
