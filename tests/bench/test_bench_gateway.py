"""The gateway benchmark end to end at a tiny size (not timed): a real Orthanc, gateway,
registry and repository processes, getscu, a real issuer; every figure is reported."""

from __future__ import annotations

import json

import pytest

from bench import gateway
from partage.orthanc import dcmtk_available

KEYS = {
    "cold_ratio_vs_orthanc", "warm_ratio_vs_orthanc", "dimse_ratio_vs_getscu",
    "first_frame_ms", "peak_rss_mb", "publish_studies_per_s",
}

pytestmark = pytest.mark.skipif(not dcmtk_available(), reason="dcmtk is not installed")


def test_tiny_run_reports_every_figure() -> None:
    cfg = gateway.Config(slices=6, rows=64, rounds=1, big_study_bytes=400_000,
                         big_series_instances=20, backlog_studies=4, backlog_patients=2,
                         deadline_s=240, quick=True)
    result = gateway.run(cfg)
    assert KEYS <= result.keys()
    for key in KEYS | {"first_frame_warm_ms", "orthanc_mb_per_s", "getscu_mb_per_s"}:
        assert isinstance(result[key], (int, float)) and result[key] > 0, key
    assert (result["ct_instances"], result["backlog_studies"], result["quick"]) == (6, 4, True)
    assert result["big_study_instances"] >= 20
    assert set(result["targets_met"]) == set(gateway.TARGETS)
    json.dumps(result)
    report = gateway.table(result)
    assert "--quick" in report and "peak RSS" in report and "publish backlog" in report
