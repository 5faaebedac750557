"""Partage services run as their own processes for a benchmark (``partage serve NAME`` with its
settings in the environment), so the measuring client and the server never share a GIL, and the
server's memory can be read from ``/proc``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from partage.serve import free_port


class ServiceProcess:
    """One ``partage serve NAME`` process on a free loopback port; its log goes to ``log_path``."""

    def __init__(self, name: str, prefix: str, settings: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.port = free_port()
        self.env = {
            **os.environ, "TCP_NODELAY": "1",
            f"{prefix}HOST": "127.0.0.1", f"{prefix}PORT": str(self.port),
            f"{prefix}LOG_LEVEL": "WARNING", f"{prefix}LOG_JSON": "false",
            **{f"{prefix}{key.upper()}": value for key, value in settings.items()},
        }
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "start() the service first"
        return self.process.pid

    def start(self, timeout: float = 120.0) -> ServiceProcess:
        """Start and wait until ``/health`` answers."""
        return self.launch().ready(timeout)

    def launch(self) -> ServiceProcess:
        """Start the process without waiting (imports take seconds: launch several at once)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "partage.cli", "serve", self.name],
                env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )
        return self

    def ready(self, timeout: float = 120.0) -> ServiceProcess:
        """Wait until ``/health`` answers; stop the process if it does not in ``timeout``."""
        assert self.process is not None, "launch() the service first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        """The end of the process's log (the run's folder is deleted afterwards)."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def peak_rss_mb(self) -> float:
        """The process's peak resident set size so far (``VmHWM``), in MB (10⁶ bytes)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e6
        raise RuntimeError(f"no VmHWM for process {self.pid}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> ServiceProcess:
        return self if self.process is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
