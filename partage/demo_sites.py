"""The demo's imaging sites: each an Orthanc PACS (storage under the demo folder) and a gateway,
on fixed loopback ports, and the synthetic studies they hold — current studies and priors of
several modalities and body regions, spread over the sites for the same patients.

Study Instance UIDs are derived from the accession numbers, so a second ``partage demo`` on the
same folder finds its studies in the PACS and loads nothing twice; the gateways' own sweeps
then find them already published.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import httpx
from pydicom.uid import generate_uid
from tqdm import tqdm

from partage.orthanc import Modality, Orthanc, OrthancConfig
from partage.studies import Patient, StudySpec, build_study, part10

#: assigning authority of the test INS (DESIGN.md, Identifiers)
INS_AUTHORITY = "1.2.250.1.213.1.4.10"

if TYPE_CHECKING:
    from gateway.core.config import GatewaySettings

#: root of the demo's derived Study Instance UIDs (UUID arc, ITU-T X.667)
UID_ROOT = "2.25."
#: the demo gateways sweep often: a study whose publication failed is retried within seconds
SWEEP_INTERVAL_S = 10.0


@dataclass(frozen=True)
class DemoSite:
    """One site; its ports come from the demo's port table under ``<key>_…`` names."""

    key: str
    oid: str
    name: str
    adapter: Literal["dimse", "dicomweb"]

    @property
    def local_authority(self) -> str:
        """Assigning authority of the site's local patient IDs (Issuer of Patient ID)."""
        return f"{self.oid}.1"

    @property
    def repository_unique_id(self) -> str:
        """The site gateway's repositoryUniqueId (Retrieve Location UID of its KOS)."""
        return f"{self.oid}.2"

    @property
    def pacs_ae_title(self) -> str:
        return f"PACS_{self.key.upper()}"

    @property
    def gateway_ae_title(self) -> str:
        return f"PARTAGE_GW_{self.key.upper()}"


SITES = (
    DemoSite("a", "1.2.250.1.999.1.1", "CHU Nord", "dimse"),
    DemoSite("b", "1.2.250.1.999.1.2", "Centre d'imagerie Sud", "dicomweb"),
)


@dataclass(frozen=True)
class DemoPatient:
    """A patient of the region: regional INS and demographics, with the local ID each site
    knows them by."""

    ins: str
    family: str
    given: str
    birth_date: str
    sex: str
    #: (site key, local patient ID at that site)
    local_ids: tuple[tuple[str, str], ...]

    @property
    def cx(self) -> str:
        return f"{self.ins}^^^&{INS_AUTHORITY}&ISO"

    def local_id(self, site: DemoSite) -> str:
        return dict(self.local_ids)[site.key]

    def at(self, site: DemoSite) -> Patient:
        """The patient as the site's PACS knows them (DICOM PN, local ID and its issuer)."""
        return Patient(self.local_id(site), f"{self.family}^{self.given}", self.birth_date,
                       self.sex, issuer=site.local_authority)



@dataclass(frozen=True)
class DemoStudy:
    """A study of the catalogue: whose (``patient`` is an index into the demo's patients),
    where, what and when."""

    patient: int
    site: str
    accession_number: str
    modality: str
    body_part: str
    description: str
    study_date: str
    study_time: str
    referring_physician: str
    series_count: int = 1
    slices: int = 24

    @property
    def study_instance_uid(self) -> str:
        return generate_uid(UID_ROOT, entropy_srcs=["partage-demo", self.accession_number])


STUDIES = (
    # MARTIN Claire: chest CT at CHU Nord now; its prior (and an abdominal CT) made at the
    # imaging centre — the prior made elsewhere that the portal brings beside it
    DemoStudy(0, "a", "CHUN25000412", "CT", "CHEST", "CT THORAX INJECTE", "20250114", "091200",
              "LEROY^Marc^^Dr", series_count=2),
    DemoStudy(0, "b", "CIS22003187", "CT", "CHEST", "CT THORAX SANS INJECTION", "20220607",
              "143000", "GARNIER^Sophie^^Dr"),
    DemoStudy(0, "b", "CIS23001954", "CT", "ABDOMEN", "CT ABDOMINO-PELVIEN", "20231121",
              "101500", "GARNIER^Sophie^^Dr"),
    # DURAND Paul: brain MR now at the imaging centre, priors at CHU Nord
    DemoStudy(1, "b", "CIS24002210", "MR", "BRAIN", "IRM CEREBRALE", "20240918", "163000",
              "GARNIER^Sophie^^Dr", series_count=2, slices=20),
    DemoStudy(1, "a", "CHUN21004421", "MR", "BRAIN", "IRM CEREBRALE", "20210303", "110000",
              "ROUX^Antoine^^Dr", slices=20),
    DemoStudy(1, "a", "CHUN19000871", "CT", "HEAD", "CT CRANE SANS INJECTION", "20191230",
              "023000", "URGENCES^CHU Nord"),
    # PETIT Jeanne: abdominal CT at CHU Nord, liver MR and a lumbar spine MR at the centre
    DemoStudy(2, "a", "CHUN24005530", "CT", "ABDOMEN", "CT ABDOMEN INJECTE", "20240502",
              "080000", "FAURE^Helene^^Dr", series_count=2),
    DemoStudy(2, "b", "CIS22000340", "MR", "ABDOMEN", "IRM HEPATIQUE", "20220215", "120000",
              "FAURE^Helene^^Dr", slices=20),
    DemoStudy(2, "b", "CIS20001102", "MR", "LSPINE", "IRM RACHIS LOMBAIRE", "20200909",
              "174500", "BLANC^Pierre^^Dr", slices=16),
    # BERNARD Louis: knee MR and chest CT, both at the centre
    DemoStudy(3, "b", "CIS25000077", "MR", "KNEE", "IRM GENOU DROIT", "20250203", "094500",
              "BLANC^Pierre^^Dr", slices=16),
    DemoStudy(3, "b", "CIS21003356", "CT", "CHEST", "CT THORAX BASSE DOSE", "20211012",
              "150000", "GARNIER^Sophie^^Dr"),
)


def orthanc_for(site: DemoSite, folder: Path, ports: dict[str, int]) -> Orthanc:
    """The site's PACS, its storage under ``folder``; its gateway is a known modality."""
    return Orthanc(OrthancConfig(
        f"orthanc-{site.key}", site.pacs_ae_title, ports[f"{site.key}_pacs_dicom"],
        ports[f"{site.key}_pacs_http"], folder / "storage",
        modalities={"gateway": Modality(site.gateway_ae_title, "127.0.0.1",
                                        ports[f"{site.key}_gateway_dicom"])},
    ))


def has_study(orthanc: Orthanc, study_instance_uid: str) -> bool:
    answer = httpx.post(f"{orthanc.url}/tools/lookup", content=study_instance_uid, timeout=30)
    answer.raise_for_status()
    return any(item["Type"] == "Study" for item in answer.json())


def spec_of(study: DemoStudy, patient: Patient, site: DemoSite) -> StudySpec:
    return StudySpec(
        patient=patient, modality=study.modality, body_part=study.body_part,
        description=study.description, study_date=study.study_date,
        study_time=study.study_time, accession_number=study.accession_number,
        institution=site.name, referring_physician=study.referring_physician,
        series_count=study.series_count, slices=study.slices, rows=256, columns=256,
        study_instance_uid=study.study_instance_uid,
    )


def load(orthanc: Orthanc, site: DemoSite, specs: list[StudySpec]) -> int:
    """Store the studies the PACS does not hold yet with ``storescu``, a progress bar on
    stderr; how many were stored."""
    missing = [s for s in specs if not has_study(orthanc, s.study_instance_uid)]
    with tempfile.TemporaryDirectory(prefix="partage-demo-") as tmp:
        for spec in tqdm(missing, desc=f"{site.name}: loading", unit="study", leave=True,
                         disable=not missing):
            folder = Path(tmp) / spec.accession_number
            folder.mkdir()
            for ds in build_study(spec):
                (folder / f"{ds.SOPInstanceUID}.dcm").write_bytes(part10(ds))
            orthanc.store_folder(folder)
            shutil.rmtree(folder)
    return len(missing)


def oldest(studies: tuple[DemoStudy, ...] = STUDIES) -> date:
    return min(date(int(s.study_date[:4]), int(s.study_date[4:6]), int(s.study_date[6:]))
               for s in studies)


def site_studies(site: DemoSite) -> Iterator[DemoStudy]:
    return (s for s in STUDIES if s.site == site.key)


def gateway_settings(site: DemoSite, folder: Path, ports: dict[str, int], *, registry: str,
                     repository: str, issuer: str) -> GatewaySettings:
    """The site gateway's settings: its PACS through the site's adapter, the region, the
    issuer; its sweep (at start, then every ``SWEEP_INTERVAL_S``) reaches back to the oldest
    demo study, so the priors are published too."""
    from gateway.core.config import GatewaySettings

    port = ports[f"{site.key}_gateway"]
    return GatewaySettings(
        data_dir=folder, port=port, public_url=f"http://127.0.0.1:{port}", log_json=False,
        site_oid=site.oid, site_name=site.name, local_patient_authority=site.local_authority,
        repository_unique_id=site.repository_unique_id, pacs_adapter=site.adapter,
        pacs_host="127.0.0.1", pacs_port=ports[f"{site.key}_pacs_dicom"],
        pacs_ae_title=site.pacs_ae_title,
        pacs_dicomweb_url=f"http://127.0.0.1:{ports[f'{site.key}_pacs_http']}/dicom-web",
        ae_title=site.gateway_ae_title, dicom_port=ports[f"{site.key}_gateway_dicom"],
        sweep_days=(date.today() - oldest()).days + 1, sweep_interval_s=SWEEP_INTERVAL_S,
        registry_url=f"{registry}/registry", identity_url=f"{registry}/identity",
        repository_url=f"{repository}/repository", issuer=issuer, audience="partage",
    )


def wait_published(gateway: str, token: str, expected: int, timeout: float = 45.0
                   ) -> dict[str, int]:
    """Poll the gateway's ``/status.json`` until ``expected`` studies are published (its sweep
    at start publishes them); the counts per state. ``TimeoutError`` past ``timeout``, naming
    what is held back or failed."""
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        status = httpx.get(f"{gateway}/status.json", headers=headers, timeout=10)
        status.raise_for_status()
        document = status.json()
        counts: dict[str, int] = document["counts"]
        if counts.get("published", 0) >= expected:
            return counts
        if time.monotonic() > deadline:
            stuck = [(s["accession_number"], s["error_code"] or "held back")
                     for s in document["held_back"] + document["failed"]]
            raise TimeoutError(f"{gateway}: {counts} after {timeout:.0f} s; {stuck}")
        time.sleep(0.2)
