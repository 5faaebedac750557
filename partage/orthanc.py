"""A site PACS for the demo, the tests and the benchmarks: Orthanc (Debian package) run as a
plain process with its own JSON configuration, ports and storage folder (DESIGN.md, "site PACS").

Orthanc has no bind-address option (it listens on every interface): callers connect on
127.0.0.1 only. ``TCP_NODELAY=1`` is set in its environment, or each DIMSE message waits ~40 ms.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ORTHANC_BINARY = "/usr/sbin/Orthanc"
PLUGINS_DIR = Path("/usr/share/orthanc/plugins")
#: dcmtk's tools (pynetdicom installs apps of the same names into the virtual environment)
DCMTK_BIN = Path("/usr/bin")
#: Debian packages a site PACS needs (installed by ./dev when missing)
DEBIAN_PACKAGES = ("orthanc", "orthanc-dicomweb", "orthanc-gdcm", "dcmtk")


@dataclass(frozen=True)
class Modality:
    """A DICOM peer Orthanc may send to (C-MOVE destination, auto-forward target)."""

    ae_title: str
    host: str
    port: int


@dataclass
class OrthancConfig:
    name: str
    ae_title: str
    dicom_port: int
    http_port: int
    storage_dir: Path
    modalities: dict[str, Modality] = field(default_factory=dict)
    #: Lua script run by Orthanc (e.g. forwarding stable studies to a gateway)
    lua_script: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "Name": self.name,
            "StorageDirectory": str(self.storage_dir),
            "IndexDirectory": str(self.storage_dir),
            "DicomAet": self.ae_title,
            "DicomPort": self.dicom_port,
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomAlwaysAllowEcho": True,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowMove": True,
            "DicomCheckCalledAet": False,
            "DicomModalities": {
                key: [m.ae_title, m.host, m.port] for key, m in self.modalities.items()
            },
            "Plugins": [str(PLUGINS_DIR / p) for p in ("libOrthancDicomWeb.so", "libOrthancGdcm.so")
                        if (PLUGINS_DIR / p).exists()],
            "DicomWeb": {
                "Enable": True,
                "Root": "/dicom-web/",
                "EnableWado": True,
                "WadoRoot": "/wado",
                "Host": f"127.0.0.1:{self.http_port}",
                "Ssl": False,
                "StudiesMetadata": "Full",
                "SeriesMetadata": "Full",
            },
            "StableAge": 2,
            "LuaScripts": [str(self.storage_dir / "forward.lua")] if self.lua_script else [],
            "ConcurrentJobs": 2,
            "HttpTimeout": 60,
            "DicomScuTimeout": 30,
            "StorageCompression": False,
            "OverwriteInstances": True,
        }


class Orthanc:
    """One running Orthanc process; ``url`` is its REST base, ``dicomweb`` its DICOMweb root."""

    def __init__(self, config: OrthancConfig, log_path: Path | None = None) -> None:
        self.config = config
        self.log_path = log_path or config.storage_dir.parent / f"{config.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.config.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def start(self, timeout: float = 30.0) -> Orthanc:
        if not Path(ORTHANC_BINARY).exists():
            raise RuntimeError(
                f"{ORTHANC_BINARY} not found: install the Debian packages {' '.join(DEBIAN_PACKAGES)}"
            )
        self.config.storage_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.config.storage_dir.parent / f"{self.config.name}.json"
        config_path.write_text(json.dumps(self.config.to_json(), indent=2))
        if self.config.lua_script:
            (self.config.storage_dir / "forward.lua").write_text(self.config.lua_script)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [ORTHANC_BINARY, str(config_path)],
            stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "TCP_NODELAY": "1"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc {self.config.name} exited; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/system", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Orthanc {self.config.name} did not answer within {timeout} s")

    def stop(self) -> None:
        """Stop and wait for the process to exit (its storage folder may then be reused)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def clear(self) -> None:
        """Delete every patient (tests start each case from an empty PACS)."""
        for patient in httpx.get(f"{self.url}/patients", timeout=30).json():
            httpx.delete(f"{self.url}/patients/{patient}", timeout=30).raise_for_status()

    def upload(self, dicom: bytes) -> str:
        """Store one Part 10 file through the REST API; returns Orthanc's instance id."""
        answer = httpx.post(f"{self.url}/instances", content=dicom, timeout=60)
        answer.raise_for_status()
        return str(answer.json()["ID"])

    def store_folder(self, folder: Path, calling_ae: str = "MODALITY",
                     timeout: float = 600.0) -> None:
        """Send every file under ``folder`` with dcmtk ``storescu`` over one association
        (C-STORE, ``TCP_NODELAY=1``), as a modality would: the fastest way in."""
        subprocess.run(
            [str(DCMTK_BIN / "storescu"), "+sd", "+r", "-aec", self.config.ae_title,
             "-aet", calling_ae, "127.0.0.1", str(self.config.dicom_port), str(folder)],
            check=True, capture_output=True, timeout=timeout,
            env={**os.environ, "TCP_NODELAY": "1"},
        )

    def __enter__(self) -> Orthanc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def dcmtk_available() -> bool:
    return all(shutil.which(tool) for tool in ("storescu", "findscu", "getscu", "movescu"))
