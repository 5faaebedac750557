"""Gateway settings (environment prefix ``PARTAGE_GATEWAY_``): one gateway per site."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from partage.settings import CallerSettings


LOINC = "2.16.840.1.113883.6.1"
SNOMED_CT = "2.16.840.1.113883.6.96"


class CodeSetting(BaseModel):
    """A coded value of the affinity domain (in the environment as JSON:
    ``{"code": "18726-0", "scheme": "2.16.840.1.113883.6.1", "display": "…"}``)."""

    code: str
    scheme: str
    display: str


class GatewaySettings(CallerSettings):
    model_config = SettingsConfigDict(env_prefix="PARTAGE_GATEWAY_", extra="ignore")

    port: int = 8030
    # -- the site --------------------------------------------------------------------------
    site_oid: str = "1.2.250.1.999.1.1"
    site_name: str = "CHU Nord"
    #: assigning authority (OID) of the site's local patient IDs
    local_patient_authority: str = "1.2.250.1.999.1.1.1"
    #: assigning authority (OID) of the site's accession numbers (referenceIdList CXi.4);
    #: empty: the site OID
    accession_authority: str = ""
    #: this gateway's repositoryUniqueId: Retrieve Location UID in every KOS it publishes
    repository_unique_id: str = "1.2.250.1.999.1.1.2"
    #: base URL consumers reach this gateway on (Retrieve URL of WADO-RS in the KOS)
    public_url: str = "http://127.0.0.1:8030"
    # -- the local PACS ------------------------------------------------------------------------
    pacs_adapter: Literal["dimse", "dicomweb"] = "dimse"
    pacs_host: str = "127.0.0.1"
    pacs_port: int = 4242
    pacs_ae_title: str = "ORTHANC"
    pacs_dicomweb_url: str = "http://127.0.0.1:8042/dicom-web"
    #: DIMSE retrieval: C-GET on the association, or C-MOVE to our own C-STORE SCP
    retrieve_method: Literal["c-get", "c-move"] = "c-get"
    # -- the gateway's own DICOM side --------------------------------------------------------
    ae_title: str = "PARTAGE_GW"
    #: C-STORE SCP port (PACS forwarding and C-MOVE destination); 0 disables it
    dicom_port: int = 11112
    max_pdu: int = Field(default=0, ge=0, description="0: unlimited")
    #: a forwarded study is complete after this many seconds without a new instance
    quiet_period_s: float = 10.0
    #: periodic C-FIND/QIDO sweep by date; 0 disables it
    sweep_interval_s: float = 300.0
    sweep_days: int = 2
    # -- the region ------------------------------------------------------------------------------
    registry_url: str = "http://127.0.0.1:8010/registry"
    #: base URL of the registry's identity feed (cross-reference lookups)
    identity_url: str = "http://127.0.0.1:8010/identity"
    repository_url: str = "http://127.0.0.1:8020/repository"
    home_community_id: str = "urn:oid:1.2.250.1.999.1"
    #: one access audit per (user, study, purpose, outcome) within this many seconds, per process
    audit_window_s: float = Field(default=600.0, ge=0)
    # -- the affinity domain's codes on every manifest this site publishes (ITI TF-3 §4.2.3.2) --
    class_code: CodeSetting = CodeSetting(code="18726-0", scheme=LOINC, display="Radiology studies (set)")
    type_code: CodeSetting = CodeSetting(code="18748-4", scheme=LOINC, display="Diagnostic imaging study")
    confidentiality_code: CodeSetting = CodeSetting(
        code="N", scheme="2.16.840.1.113883.5.25", display="Normal")
    healthcare_facility_type_code: CodeSetting = CodeSetting(
        code="22232009", scheme=SNOMED_CT, display="Hospital")
    practice_setting_code: CodeSetting = CodeSetting(
        code="394914008", scheme=SNOMED_CT, display="Radiology")
    #: IANA time zone of the PACS clock (StudyDate/StudyTime → UTC serviceStartTime)
    timezone: str = "Europe/Paris"
    # -- cache -----------------------------------------------------------------------------------
    cache_dir: Path | None = None
    cache_max_bytes: int = Field(default=2 * 1024**3, ge=1024 * 1024)

    def sqlite_name(self) -> str:
        return "gateway.sqlite"

    def resolved_cache_dir(self) -> Path:
        return self.cache_dir or self.data_dir / "cache"
