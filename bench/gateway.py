"""Site gateway against its peers, measured in the same run (issue 3, "Benchmark").

Two gateway processes (``partage serve gateway``, settings in the environment, trusting a
development issuer) front one Orthanc of the run: one with the DICOMweb adapter, one with the
DIMSE adapter. Each round stores a fresh 300-slice 512×512 16-bit CT (≈157 MB) with ``storescu``
— new UIDs, so both gateway caches are cold for it — and retrieves its series

* directly from Orthanc's DICOMweb (WADO-RS, the peer), then through the DICOMweb gateway cold,
  then warm (twice, each after a fresh peer measurement);
* with dcmtk ``getscu`` (C-GET, the peer), then through the DIMSE gateway, cold;

and times WADO-RS ``/frames/1`` of the first instance through the DICOMweb gateway, cold then
warm. Ratios are gateway throughput over the peer's measured just before; medians over the pairs.
Every HTTP transfer is made by ``curl`` into ``/dev/null`` (its own timing, to the last byte;
an incomplete body is an error): a Python client spent ~0.17 s of CPU per 157 MB series, as
much as the gateway, and capped both peers near 900 MB/s on these two cores.
A study of ``big_study_bytes`` is then streamed through each gateway and its peak RSS
(``VmHWM``, the whole process life) read. Last, a backlog of tiny studies is published the way
``partage gateway publish --since`` does (``gateway.publish.backlog.publish``, timed without the
command's start-up) to a registry and a repository run as processes.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bench.series import WrittenStudy, write_backlog, write_study
from bench.services import ServiceProcess
from gateway.core.config import GatewaySettings
from gateway.publish import backlog
from partage.devissuer import DevIssuer
from partage.orthanc import DCMTK_BIN, Orthanc, OrthancConfig
from partage.serve import free_port
from partage.sources import REPOSITORY, SITE_GATEWAY
from partage.studies import Patient, StudySpec

DICOM_PARTS = 'multipart/related; type="application/dicom"'
FRAME_PARTS = ('multipart/related; type="application/octet-stream"; '
               "transfer-syntax=1.2.840.10008.1.2.1")
#: 127.0.0.1 only; no compression, so bytes counted are bytes sent
PLAIN = {"Accept-Encoding": "identity"}
SITE_AUTHORITY = "1.2.250.1.999.1.1.1"
INS_AUTHORITY = "1.2.250.1.213.1.4.10"
BACKLOG_DATE = date(2015, 6, 1)
#: the backlog publisher's OAuth client at the run's development issuer
PUBLISHER_CLIENT = "bench-publisher"
REPOSITORY_CLIENT = "bench-repository"
MB = 1e6
CURL = shutil.which("curl") or "/usr/bin/curl"

#: figure → (comparison, target)
TARGETS: dict[str, tuple[str, float]] = {
    "cold_ratio_vs_orthanc": (">=", 0.9),
    "warm_ratio_vs_orthanc": (">=", 1.5),
    "dimse_ratio_vs_getscu": (">=", 0.9),
    "first_frame_ms": ("<=", 100.0),
    "peak_rss_mb": ("<=", 300.0),
}


@dataclass(frozen=True)
class Config:
    """Sizes and bounds of one run: every loop has a count, every wait a deadline."""

    slices: int = 300
    rows: int = 512
    rounds: int = 3
    big_study_bytes: int = 2_000_000_000
    big_series_instances: int = 500
    backlog_studies: int = 1000
    backlog_patients: int = 100
    #: the run stops starting new rounds past this, and every wait is cut at it
    deadline_s: float = 1200.0
    quick: bool = False

    @classmethod
    def for_run(cls, quick: bool) -> Config:
        if not quick:
            return cls()
        return cls(rounds=2, big_study_bytes=400_000_000, backlog_studies=200,
                   backlog_patients=20, deadline_s=280.0, quick=True)


@dataclass(frozen=True)
class Transfer:
    seconds: float
    size: int

    @property
    def mb_per_s(self) -> float:
        return self.size / MB / self.seconds


@dataclass
class Figures:
    """What the rounds measured; ratios are paired gateway/peer throughputs."""

    orthanc: list[Transfer] = field(default_factory=list)
    cold: list[Transfer] = field(default_factory=list)
    warm: list[Transfer] = field(default_factory=list)
    getscu: list[Transfer] = field(default_factory=list)
    dimse: list[Transfer] = field(default_factory=list)
    cold_ratios: list[float] = field(default_factory=list)
    warm_ratios: list[float] = field(default_factory=list)
    dimse_ratios: list[float] = field(default_factory=list)
    first_frame_ms: list[float] = field(default_factory=list)
    warm_frame_ms: list[float] = field(default_factory=list)


class Run:
    """One benchmark run under ``root``: the Orthanc, the issuer and the gateways are shared."""

    def __init__(self, cfg: Config, root: Path, orthanc: Orthanc, issuer: DevIssuer) -> None:
        self.cfg = cfg
        self.root = root
        self.orthanc = orthanc
        self.issuer = issuer
        self.deadline = time.monotonic() + cfg.deadline_s
        self.client = httpx.Client(timeout=httpx.Timeout(60.0, connect=5.0), headers=PLAIN)
        self.patient = Patient("BENCH0001", "BENCH^Thorax", "19650302", "M", SITE_AUTHORITY)
        (root / "logs").mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return max(1.0, self.deadline - time.monotonic())

    # -- peers and gateways ---------------------------------------------------------------
    def store_study(self, name: str, instances_per_series: int, series_count: int = 1,
                    description: str = "CT THORAX") -> WrittenStudy:
        """Write a study of ``rows``² slices and send it to Orthanc with storescu."""
        folder = self.root / name
        spec = StudySpec(self.patient, rows=self.cfg.rows, columns=self.cfg.rows,
                         accession_number=name.upper()[:16], description=description)
        study = write_study(folder, spec, instances_per_series, series_count)
        self.store(folder)
        return study

    def store(self, folder: Path) -> None:
        """Send ``folder`` to Orthanc with storescu, then delete the files."""
        self.orthanc.store_folder(folder, timeout=self.left())
        shutil.rmtree(folder)

    def gateway(self, adapter: str) -> ServiceProcess:
        """A gateway process on an empty cache, reading the Orthanc with ``adapter``."""
        config = self.orthanc.config
        return ServiceProcess("gateway", "PARTAGE_GATEWAY_", {
            "data_dir": str(self.root / f"gateway-{adapter}"), "pacs_adapter": adapter,
            "pacs_dicomweb_url": self.orthanc.dicomweb, "pacs_host": "127.0.0.1",
            "pacs_port": str(config.dicom_port), "pacs_ae_title": config.ae_title,
            "issuer": self.issuer.url, "audience": "partage", "sweep_interval_s": "0",
            "dicom_port": "0", "cache_max_bytes": str(3 * 1024**3),
        }, self.root / "logs" / f"gateway-{adapter}.log")

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.token(lifetime_s=3600)}"}

    def prime(self, gateway: ServiceProcess) -> None:
        """Have the gateway fetch the issuer's JWKS (a 404 on a study nobody has)."""
        answer = self.client.get(f"{gateway.url}/wado-rs/studies/1.2.3/metadata",
                                 headers=self.auth())
        if answer.status_code != 404:
            raise RuntimeError(f"gateway priming answered {answer.status_code}: {answer.text}")

    def transfer(self, url: str, accept: str = DICOM_PARTS, auth: bool = False) -> Transfer:
        """GET ``url`` to its last byte with curl (no decompression, body discarded): bytes
        and seconds as curl counts them; an error for any status but 200, a body cut short
        (Content-Length not reached, chunked body without its last chunk) or the deadline."""
        headers = {"Accept": accept, **(self.auth() if auth else {})}
        command = [CURL, "--silent", "--show-error", "--fail", "--output", "/dev/null",
                   "--max-time", f"{self.left():.0f}", "--write-out",
                   "%{http_code} %{size_download} %{time_total}"]
        for name, value in headers.items():
            command += ["--header", f"{name}: {value}"]
        done = subprocess.run([*command, url], capture_output=True, text=True, check=False,
                              timeout=self.left() + 5)
        if done.returncode != 0:
            raise RuntimeError(f"GET {url}: curl exit {done.returncode} {done.stdout} "
                               f"{done.stderr.strip()[:300]}")
        status, size, seconds = done.stdout.split()
        if status != "200":
            raise RuntimeError(f"GET {url}: HTTP {status}")
        return Transfer(float(seconds), int(size))

    def getscu(self, study: WrittenStudy) -> Transfer:
        """dcmtk getscu of the series (study root, C-GET, TCP_NODELAY=1) into a folder."""
        out = self.root / "getscu"
        out.mkdir()
        config = self.orthanc.config
        start = time.perf_counter()
        subprocess.run(
            [str(DCMTK_BIN / "getscu"), "-S", "-aet", "GETSCU", "-aec", config.ae_title,
             "-k", "QueryRetrieveLevel=SERIES",
             "-k", f"StudyInstanceUID={study.study_instance_uid}",
             "-k", f"SeriesInstanceUID={study.first_series}", "-od", str(out),
             "127.0.0.1", str(config.dicom_port)],
            check=True, capture_output=True, timeout=self.left(),
            env={**os.environ, "TCP_NODELAY": "1"},
        )
        seconds = time.perf_counter() - start
        files = list(out.iterdir())
        if len(files) != study.instances:
            raise RuntimeError(f"getscu retrieved {len(files)} of {study.instances} instances")
        size = sum(f.stat().st_size for f in files)
        shutil.rmtree(out)
        return Transfer(seconds, size)

    # -- the steps --------------------------------------------------------------------------
    def round(self, n: int, web: ServiceProcess, dimse: ServiceProcess,
              figures: Figures) -> WrittenStudy:
        """One round of every paired measurement on a CT neither gateway has seen."""
        ct = self.store_study(f"ct{n}", self.cfg.slices)
        series = f"studies/{ct.study_instance_uid}/series/{ct.first_series}"
        frame = f"{web.url}/wado-rs/{series}/instances/{ct.series[ct.first_series][0]}/frames/1"
        direct, via = f"{self.orthanc.dicomweb}/{series}", f"{web.url}/wado-rs/{series}"
        self.transfer(direct)  # Orthanc reads its files once before being measured
        figures.first_frame_ms.append(self.transfer(frame, FRAME_PARTS, auth=True).seconds * 1e3)
        peer, cold = self.transfer(direct), self.transfer(via, auth=True)
        figures.orthanc.append(peer)
        figures.cold.append(cold)
        figures.cold_ratios.append(cold.mb_per_s / peer.mb_per_s)
        for _ in range(2):
            peer, warm = self.transfer(direct), self.transfer(via, auth=True)
            figures.orthanc.append(peer)
            figures.warm.append(warm)
            figures.warm_ratios.append(warm.mb_per_s / peer.mb_per_s)
        figures.warm_frame_ms.append(self.transfer(frame, FRAME_PARTS, auth=True).seconds * 1e3)
        peer, cold = self.getscu(ct), self.transfer(f"{dimse.url}/wado-rs/{series}", auth=True)
        figures.getscu.append(peer)
        figures.dimse.append(cold)
        figures.dimse_ratios.append(cold.mb_per_s / peer.mb_per_s)
        return ct

    def peak_rss(self, big: WrittenStudy, gateways: dict[str, ServiceProcess]
                 ) -> dict[str, Any]:
        """Stream the big study through each gateway; each one's peak RSS afterwards."""
        found: dict[str, Any] = {}
        for adapter, gateway in gateways.items():
            moved = self.transfer(f"{gateway.url}/wado-rs/studies/{big.study_instance_uid}",
                                  auth=True)
            if moved.size < big.size:
                raise RuntimeError(f"{adapter}: {moved.size} bytes of a {big.size}-byte study")
            found[f"peak_rss_mb_{adapter}"] = round(gateway.peak_rss_mb(), 1)
            found[f"big_study_mb_per_s_{adapter}"] = round(moved.mb_per_s, 1)
        found["peak_rss_mb"] = max(found[f"peak_rss_mb_{a}"] for a in gateways)
        return found

    def publish_backlog(self) -> dict[str, Any]:
        """Publish ``backlog_studies`` tiny studies as ``partage gateway publish --since``
        does, to a registry and repository of their own; studies per second."""
        cfg = self.cfg
        patients = [Patient(f"BP{n:05d}", f"BENCH^Patient{n}", "19700101", "F", SITE_AUTHORITY)
                    for n in range(cfg.backlog_patients)]
        write_backlog(self.root / "backlog", cfg.backlog_studies, patients,
                      BACKLOG_DATE.strftime("%Y%m%d"))
        self.store(self.root / "backlog")
        logs, token = self.root / "logs", "bench-feed-token"
        registry = ServiceProcess("registry", "PARTAGE_REGISTRY_", {
            "data_dir": str(self.root / "registry"), "feed_token": token,
            "issuer": self.issuer.url,
        }, logs / "registry.log")
        repository = ServiceProcess("repository", "PARTAGE_REPOSITORY_", {
            "data_dir": str(self.root / "repository"),
            "registry_url": f"{registry.url}/registry", "issuer": self.issuer.url,
            "client_id": REPOSITORY_CLIENT,  # its own tokens for ITI-42
            "client_secret": self.issuer.register_client(REPOSITORY_CLIENT, roles=[REPOSITORY]),
        }, logs / "repository.log")
        with registry.launch(), repository.launch():
            registry.ready(self.left())
            repository.ready(self.left())
            self._feed(registry.url, token, patients)
            settings = GatewaySettings(
                data_dir=self.root / "publisher", log_json=False, pacs_adapter="dicomweb",
                pacs_dicomweb_url=self.orthanc.dicomweb, registry_url=f"{registry.url}/registry",
                repository_url=f"{repository.url}/repository",
                identity_url=f"{registry.url}/identity", issuer=self.issuer.url,
                client_id=PUBLISHER_CLIENT,  # its own tokens (site gateway of its site)
                client_secret=self.issuer.register_client(
                    PUBLISHER_CLIENT, roles=[SITE_GATEWAY],
                    site=GatewaySettings.model_fields["site_oid"].default),
            )
            start = time.perf_counter()
            code = backlog.publish(settings, BACKLOG_DATE, BACKLOG_DATE, out=io.StringIO(),
                                   err=io.StringIO())
            seconds = time.perf_counter() - start
            status = io.StringIO()
            backlog.status(settings, out=status)
        published = int(json.loads(status.getvalue())["counts"].get("published", 0))
        if code != 0 or published != cfg.backlog_studies:
            raise RuntimeError(f"{published} of {cfg.backlog_studies} backlog studies published")
        return {"publish_studies_per_s": round(published / seconds, 1),
                "publish_seconds": round(seconds, 1)}

    def _feed(self, registry: str, token: str, patients: list[Patient]) -> None:
        """Each patient's regional ID with the site's local ID (the cross-reference)."""
        headers = {"Authorization": f"Bearer {token}"}
        for n, patient in enumerate(patients):
            cx = f"{1_700_000_000_000 + n:013d}^^^&{INS_AUTHORITY}&ISO"
            self.client.put(
                f"{registry}/identity/patients/{quote(cx, safe='')}", headers=headers,
                json={"family_name": "BENCH", "given_name": f"Patient{n}",
                      "identifiers": [{"authority": SITE_AUTHORITY,
                                       "local_id": patient.patient_id}]},
            ).raise_for_status()


def _median(values: list[float], digits: int = 2) -> float:
    return round(statistics.median(values), digits)


def run(cfg: Config) -> dict[str, Any]:
    """Measure everything; the figures as one flat dictionary."""
    with tempfile.TemporaryDirectory(prefix="partage-bench-gateway-") as tmp:
        root = Path(tmp)
        orthanc_config = OrthancConfig("bench-pacs", "BENCHPACS", free_port(), free_port(),
                                       root / "orthanc" / "storage")
        with Orthanc(orthanc_config) as orthanc, DevIssuer.running() as issuer:
            bench = Run(cfg, root, orthanc, issuer)
            try:
                return _measure(bench)
            finally:
                bench.client.close()


def _measure(bench: Run) -> dict[str, Any]:
    cfg = bench.cfg
    gateways = {adapter: bench.gateway(adapter).launch() for adapter in ("dicomweb", "dimse")}
    try:
        for gateway in gateways.values():
            gateway.ready(bench.left())
            bench.prime(gateway)
        figures = Figures()
        for n in range(cfg.rounds):
            if n and time.monotonic() > bench.deadline - cfg.deadline_s / 2:
                break  # keep half of the time for the large study and the backlog
            ct = bench.round(n, gateways["dicomweb"], gateways["dimse"], figures)
        per_series = cfg.big_series_instances
        series_count = max(1, round(cfg.big_study_bytes / (ct.size / ct.instances) / per_series))
        big = bench.store_study("big", per_series, series_count, "CT TAP")
        result: dict[str, Any] = {
            "quick": cfg.quick,
            "rounds": len(figures.cold_ratios),
            "ct_instances": ct.instances, "ct_mb": round(ct.size / MB, 1),
            "big_study_instances": big.instances, "big_study_mb": round(big.size / MB, 1),
            "backlog_studies": cfg.backlog_studies,
            "cold_ratio_vs_orthanc": _median(figures.cold_ratios),
            "warm_ratio_vs_orthanc": _median(figures.warm_ratios),
            "dimse_ratio_vs_getscu": _median(figures.dimse_ratios),
            "first_frame_ms": _median(figures.first_frame_ms, 1),
            "first_frame_warm_ms": _median(figures.warm_frame_ms, 1),
            "orthanc_mb_per_s": _median([t.mb_per_s for t in figures.orthanc], 1),
            "cold_mb_per_s": _median([t.mb_per_s for t in figures.cold], 1),
            "warm_mb_per_s": _median([t.mb_per_s for t in figures.warm], 1),
            "getscu_mb_per_s": _median([t.mb_per_s for t in figures.getscu], 1),
            "dimse_mb_per_s": _median([t.mb_per_s for t in figures.dimse], 1),
        }
        result.update(bench.peak_rss(big, gateways))
    finally:
        for gateway in gateways.values():
            gateway.stop()
    result.update(bench.publish_backlog())
    result["targets_met"] = {key: met(key, result[key]) for key in TARGETS}
    return result


def met(key: str, value: float) -> bool:
    comparison, target = TARGETS[key]
    return value >= target if comparison == ">=" else value <= target


def table(result: dict[str, Any]) -> str:
    """The human report: figures, targets and whether each is met."""
    r = result
    rows = [
        ("cold, gateway (DICOMweb) / Orthanc", "cold_ratio_vs_orthanc",
         f"{r['cold_mb_per_s']} / {r['orthanc_mb_per_s']} MB/s"),
        ("warm, gateway (DICOMweb) / Orthanc", "warm_ratio_vs_orthanc",
         f"{r['warm_mb_per_s']} / {r['orthanc_mb_per_s']} MB/s"),
        ("cold, gateway (DIMSE) / getscu", "dimse_ratio_vs_getscu",
         f"{r['dimse_mb_per_s']} / {r['getscu_mb_per_s']} MB/s"),
        ("first frame, cold cache (ms)", "first_frame_ms", f"warm {r['first_frame_warm_ms']} ms"),
        (f"peak RSS streaming {r['big_study_mb'] / 1000:.2f} GB (MB)", "peak_rss_mb",
         f"DICOMweb {r['peak_rss_mb_dicomweb']}, DIMSE {r['peak_rss_mb_dimse']}"),
    ]
    head = (f"Partage gateway benchmark — CT {r['ct_instances']} instances, {r['ct_mb']} MB, "
            f"{r['rounds']} round(s), medians of paired ratios")
    if r["quick"]:
        head += (f"\n--quick: large study {r['big_study_mb']:.0f} MB instead of 2 GB, backlog of "
                 f"{r['backlog_studies']} studies instead of 1 000")
    lines = [head, f"{'figure':<44}{'value':>9}  {'target':<9}{'':<8}detail"]
    for name, key, detail in rows:
        comparison, target = TARGETS[key]
        verdict = "met" if r["targets_met"][key] else "MISSED"
        lines.append(f"{name:<44}{r[key]:>9}  {comparison} {target:<6g}{verdict:<8}{detail}")
    lines.append(f"{'publish backlog (studies/s)':<44}{r['publish_studies_per_s']:>9}  "
                 f"{'':<9}{'':<8}{r['backlog_studies']} studies in {r['publish_seconds']} s")
    return "\n".join(lines)
