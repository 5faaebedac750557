"""The forwarding spool: atomic files, quiet-period completion, restart, hand-over."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.forwarding import ForwardWatcher, Spool

STUDY, OTHER = "1.2.3.4", "1.2.3.5"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_instances_are_written_whole_under_their_study(tmp_path: Path, clock: Clock) -> None:
    spool = Spool(tmp_path, 10, clock)
    path = spool.store(STUDY, "1.2.3.4.1", b"DICM-bytes")
    assert path == tmp_path / STUDY / "1.2.3.4.1.dcm"
    assert path.read_bytes() == b"DICM-bytes"
    spool.store(STUDY, "1.2.3.4.1", b"second copy")  # the same instance again replaces it
    assert spool.instances(STUDY) == [path]
    assert path.read_bytes() == b"second copy"
    assert [p.name for p in (tmp_path / STUDY).iterdir()] == ["1.2.3.4.1.dcm"]


@pytest.mark.parametrize("study, sop", [("../etc", "1.2"), ("1.2", "../../x"), ("1.2", ""),
                                        ("1." + "2" * 70, "1.2")])
def test_uids_that_are_not_uids_are_refused(tmp_path: Path, study: str, sop: str) -> None:
    with pytest.raises(ValueError):
        Spool(tmp_path, 10).store(study, sop, b"x")
    assert list(tmp_path.iterdir()) == []


def test_a_study_completes_after_the_quiet_period(tmp_path: Path, clock: Clock) -> None:
    spool = Spool(tmp_path, 10, clock)
    spool.store(STUDY, "1.2.3.4.1", b"a")
    clock.now += 3
    spool.store(OTHER, "1.2.3.5.1", b"b")
    clock.now += 3
    spool.store(STUDY, "1.2.3.4.2", b"c")  # a new instance restarts the quiet period
    clock.now += 6.9
    assert spool.completed_studies() == []
    clock.now += 0.1
    assert spool.completed_studies() == [OTHER]
    clock.now += 3
    assert spool.completed_studies() == [OTHER, STUDY]  # oldest last arrival first
    assert spool.studies() == [STUDY, OTHER]


def test_restart_finds_the_spooled_studies_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path, 10)
    spool.store(STUDY, "1.2.3.4.1", b"a")
    (tmp_path / STUDY / ".tmp123.part").write_bytes(b"half")  # a write cut by a crash
    old = os.stat(tmp_path / STUDY / "1.2.3.4.1.dcm").st_mtime - 60
    os.utime(tmp_path / STUDY / "1.2.3.4.1.dcm", (old, old))
    (tmp_path / OTHER).mkdir()  # an empty folder left behind
    again = Spool(tmp_path, 10)
    assert again.completed_studies() == [STUDY]
    assert not (tmp_path / STUDY / ".tmp123.part").exists()
    assert not (tmp_path / OTHER).exists()


def test_watcher_hands_over_once_and_keeps_late_instances(tmp_path: Path, clock: Clock) -> None:
    spool = Spool(tmp_path, 10, clock)
    spool.store(STUDY, "1.2.3.4.1", b"a")
    handed: list[str] = []

    def on_complete(uid: str) -> None:
        handed.append(uid)
        spool.store(STUDY, "1.2.3.4.2", b"late")  # arrives while being published

    watcher = ForwardWatcher(spool, on_complete)
    assert watcher.poll() == []
    clock.now += 10
    assert watcher.poll() == [STUDY]
    assert watcher.poll() == []  # the late instance restarted the quiet period
    assert [p.name for p in spool.instances(STUDY)] == ["1.2.3.4.2.dcm"]
    clock.now += 10
    watcher.on_complete = handed.append
    assert watcher.poll() == [STUDY]
    assert handed == [STUDY, STUDY]
    assert spool.studies() == [] and not (tmp_path / STUDY).exists()


def test_failed_hand_over_is_retried_after_a_quiet_period(tmp_path: Path, clock: Clock) -> None:
    spool = Spool(tmp_path, 10, clock)
    spool.store(STUDY, "1.2.3.4.1", b"a")
    clock.now += 10
    calls: list[str] = []

    def failing(uid: str) -> None:
        calls.append(uid)
        raise RuntimeError("registry down")

    watcher = ForwardWatcher(spool, failing)
    assert watcher.poll() == []
    assert watcher.poll() == []  # not retried at once
    assert calls == [STUDY]
    assert spool.instances(STUDY)  # nothing lost
    clock.now += 10
    watcher.on_complete = calls.append
    assert watcher.poll() == [STUDY]
    assert calls == [STUDY, STUDY]
