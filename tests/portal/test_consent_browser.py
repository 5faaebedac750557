"""Consent end to end in headless Chromium (``tests/browser/consent_flow.js``) against the whole
region on loopback: Paul DURAND, in his privacy centre, hides his MR and blocks Dr Lefèvre; Dr
Martin's portal stops listing the MR (a notice says one study is hidden, not which) and the MR's
frame URL that worked a minute before answers 403; Dr Lefèvre sees nothing of Paul and gets 403
on the CT's frames too. Jeanne PETIT shares nothing but allows emergency access: Dr Martin breaks
the glass with a written reason, sees and reads her X-ray, and Jeanne finds the access in her
notifications and in her access log, flagged as an emergency."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.portal import CHROMIUM
from partage.region import Region
from tests.portal.consent_region import (
    JEANNE, JEANNE_CR, LEFEVRE_RPPS, MARTIN_RPPS, PAUL, PAUL_CT, PAUL_MR, consent_region,
)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (Debian package chromium)"
)

FLOW = Path(__file__).resolve().parents[1] / "browser" / "consent_flow.js"
REASON = "Polytraumatisée inconsciente aux urgences, antécédents thoraciques inconnus"
HIDDEN = "hidden at the patient's request"
BLOCKED = "not shared with you at the patient's request"


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    with consent_region(tmp_path_factory.mktemp("region")) as running:
        running.set_policy("jeanne.petit", {"base": "block", "emergency_access": True})
        yield running


@pytest.fixture(scope="module")
def seen(region: Region, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What the browser saw along the whole walk (screenshots in its folder)."""
    outdir = tmp_path_factory.mktemp("screens")
    config = {
        "portal": region.portal_url, "privacy": region.consent_url, "outdir": str(outdir),
        "hider": {"login": "paul.durand", "ins": PAUL.ins,
                  "hiddenStudyUid": PAUL_MR.study_instance_uid,
                  "hiddenDescription": PAUL_MR.description,
                  "keptDescription": PAUL_CT.description},
        "blocked": {"login": "dr.lefevre", "rpps": LEFEVRE_RPPS},
        "reader": {"login": "dr.martin", "rpps": MARTIN_RPPS},
        "refuser": {"login": "jeanne.petit", "ins": JEANNE.ins,
                    "description": JEANNE_CR.description},
        "reason": REASON,
    }
    run = subprocess.run(["node", str(FLOW), json.dumps(config)], cwd=FLOW.parent,
                         capture_output=True, text=True, timeout=300)
    lines = run.stdout.strip().splitlines()
    assert lines, f"consent_flow.js exited {run.returncode}: {run.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert "error" not in result, json.dumps(result, indent=1, ensure_ascii=False)[-4000:]
    result["outdir"] = outdir
    return result


def test_before_any_choice_the_radiologist_reads_both_studies(seen: dict[str, Any]) -> None:
    before = seen["steps"]["before"]
    assert before["rows"] == 2 and before["hiddenCount"] == 0
    assert before["hiddenFrame"]["status"] == 200 and before["keptFrame"]["status"] == 200


def test_the_patient_hides_a_study_and_blocks_a_radiologist_in_two_versions(
        seen: dict[str, Any]) -> None:
    patient = seen["steps"]["patient"]
    assert patient["versions"] == 2
    assert any(LEFEVRE_RPPS in change for change in patient["changes"])


def test_the_hidden_study_leaves_the_timeline_and_its_pixels_are_refused(
        seen: dict[str, Any]) -> None:
    reader = seen["steps"]["reader"]
    assert reader["keptListed"] and len(reader["rows"]) == 1
    assert reader["hiddenCount"] == 1 and any(HIDDEN in r for r in reader["hiddenReasons"])
    assert not reader["namesHidden"]  # the notice says that, never what
    assert reader["hiddenFrame"]["status"] == 403 and HIDDEN in reader["hiddenFrame"]["body"]
    assert reader["hiddenSeries"]["status"] == 403
    assert reader["keptFrame"]["status"] == 200


def test_the_blocked_radiologist_sees_nothing_and_gets_403_by_direct_url(
        seen: dict[str, Any]) -> None:
    blocked = seen["steps"]["blocked"]
    assert blocked["rows"] == 0 and blocked["hiddenCount"] == 2
    assert any(BLOCKED in r for r in blocked["hiddenReasons"])
    assert not blocked["emergencyOffered"]  # a blocked professional cannot break the glass
    for what in ("keptFrame", "hiddenFrame", "keptSeries"):
        assert blocked[what]["status"] == 403, (what, blocked[what])


def test_an_emergency_access_with_a_reason_opens_the_patient(seen: dict[str, Any]) -> None:
    emergency = seen["steps"]["emergency"]
    assert emergency["rowsBefore"] == 0 and emergency["offered"]
    assert emergency["rowsAfter"] == 1
    assert emergency["frame"]["status"] == 200
    assert REASON in emergency["banner"]


def test_the_patient_is_notified_and_finds_it_in_her_access_log(seen: dict[str, Any]) -> None:
    notified = seen["steps"]["notified"]
    assert notified["unread"] >= 1
    assert REASON in notified["reasons"]
    assert any("Martin" in row for row in notified["rows"])
    emergencies = [a for a in notified["accesses"]
                   if a["rpps"] == MARTIN_RPPS and a["emergency"] == "true"]
    assert emergencies, notified["accesses"]
    assert (seen["outdir"] / "privacy-access-log.png").stat().st_size > 10_000
