"""The viewer's pure JavaScript (slice ordering, cross-study slice matching) under Node's own
test runner: fast, no browser, no bundle."""

from __future__ import annotations

import subprocess
from pathlib import Path

VIEWER = Path(__file__).resolve().parents[2] / "portal" / "viewer"


def test_viewer_geometry_units() -> None:
    run = subprocess.run(["node", "--test", "test/"], cwd=VIEWER, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "# fail 0" in run.stdout
