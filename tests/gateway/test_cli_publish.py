"""``partage gateway publish --since``: a backlog of studies published with a progress bar,
interrupted (SIGINT) and re-run to completion, each study published once; ``partage gateway
status`` reports it. The command runs as a real process against a real Orthanc and our
registry and repository over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from gateway.models import PublishedStudy, PublishState
from partage.db import Database
from partage.orthanc import Orthanc
from tests.conftest import Region
from tests.gateway.studies import make_spec, store_rest
from tests.gateway.test_publisher import REGIONAL, feed, find_documents

BACKLOG = 20


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "partage.cli", "gateway", *args]


def gateway_env(region: Region, orthanc: Orthanc, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PARTAGE_GATEWAY_DATA_DIR": str(data_dir),
        "PARTAGE_GATEWAY_PACS_ADAPTER": "dicomweb",
        "PARTAGE_GATEWAY_PACS_DICOMWEB_URL": orthanc.dicomweb,
        "PARTAGE_GATEWAY_REGISTRY_URL": region.registry,
        "PARTAGE_GATEWAY_REPOSITORY_URL": region.repository,
        "PARTAGE_GATEWAY_IDENTITY_URL": f"{region.base}/identity",
        "PARTAGE_GATEWAY_LOG_JSON": "false",
        "PARTAGE_GATEWAY_ISSUER": region.issuer.url,
        **{f"PARTAGE_GATEWAY_{name.upper()}": value
           for name, value in region.service_client().items()},
    }


def published(db: Database) -> int:
    """Published studies so far (0 while the command has not created its tables yet)."""
    try:
        with db.session() as session:
            return int(session.scalar(select(func.count()).select_from(PublishedStudy).where(
                PublishedStudy.state == PublishState.PUBLISHED)) or 0)
    except OperationalError:
        return 0


def test_backlog_is_resumable_after_an_interruption(region: Region, orthanc: Orthanc,
                                                    tmp_path: Path) -> None:
    uids = {
        store_rest(orthanc, make_spec(study_date=f"202403{day % 28 + 1:02d}", slices=2,
                                      accession_number=f"ACC{day:04d}")).study_instance_uid
        for day in range(BACKLOG)
    }
    store_rest(orthanc, make_spec(study_date="20240501", accession_number="LATER"))
    feed(region, REGIONAL)
    env = gateway_env(region, orthanc, tmp_path / "gateway")
    args = ["publish", "--since", "2024-03-01", "--until", "2024-03-31"]

    first = subprocess.Popen(command(*args), env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    db = Database(f"sqlite:///{tmp_path / 'gateway' / 'gateway.sqlite'}")
    try:
        deadline = time.monotonic() + 120
        while first.poll() is None and time.monotonic() < deadline:
            if published(db) >= 3:
                first.send_signal(signal.SIGINT)
                break
            time.sleep(0.02)
        _, err = first.communicate(timeout=60)
        assert first.returncode == 130, err.decode()
        assert b"run the same command again" in err
        interrupted_at = published(db)
        assert 3 <= interrupted_at < BACKLOG

        second = subprocess.run(command(*args), env=env, capture_output=True,
                                timeout=300)
        assert second.returncode == 0, second.stderr.decode()
        assert b"publishing" in second.stderr and b"it/s" not in second.stdout  # bar on stderr
        assert f"{BACKLOG} studies in the PACS".encode() in second.stdout
        assert published(db) == BACKLOG
    finally:
        db.engine.dispose()

    # each study once in the region, the study outside the range not at all
    entries = find_documents(region, REGIONAL)
    study_uids = [
        next(v.split("^")[0] for v in e.slot_values("urn:ihe:iti:xds:2013:referenceIdList")
             if v.endswith("studyInstanceUID"))
        for e in entries
    ]
    assert sorted(study_uids) == sorted(uids)

    status = subprocess.run(command("status"), env=env, capture_output=True,
                            timeout=60, check=True)
    document = json.loads(status.stdout)
    assert document["counts"]["published"] == BACKLOG
    assert document["last_sweep"]["studies_seen"] == BACKLOG
