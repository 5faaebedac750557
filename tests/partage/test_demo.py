"""The README's demo: the region comes up, the sample walks ITI-41 → ITI-18 → ITI-43, and a
second start on the same folder works too (the set-up command is idempotent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from partage import demo
from partage.serve import free_port


def test_demo_runs_twice_on_the_same_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(2):
        ports = {"registry": free_port(), "repository": free_port(), "mllp": free_port()}
        assert demo.main(tmp_path, once=True, ports=ports) == 0
    err = capsys.readouterr().err
    assert err.count("SHA-1 matches the registry") == 2
    assert "FindDocuments: 2 document(s)" in err  # the first run's report is still there
