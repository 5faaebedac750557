"""Prior ranking (same modality and region first, then recency) and the time axis geometry."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import permutations

from portal.priors import rank_priors
from partage.regional_studies import StudyEntry
from portal.timeline import MAX_LANES, build_axis


def study(sid: str, when: str | None, modalities: str, regions: str = "",
          site: str = "CHU Nord") -> StudyEntry:
    started = datetime.fromisoformat(when).replace(tzinfo=UTC) if when else None
    return StudyEntry(
        id=sid, entry_uuid=f"urn:uuid:{sid}", unique_id="", repository_unique_id="",
        home_community_id="", patient_id="", study_instance_uid="", accession=sid,
        started=started, site=site, site_oid="", modalities=tuple(modalities.split("/")),
        regions=tuple(r for r in regions.split("/") if r), description="",
        number_of_instances=None, status="")


CURRENT = study("current", "2025-03-14", "CT", "Chest")
SAME_BOTH_OLD = study("ct-chest-2019", "2019-05-01", "CT", "Chest")
SAME_BOTH_RECENT = study("ct-chest-2023", "2023-06-02", "CT", "chest")  # case differs
SAME_MODALITY = study("ct-head-2024", "2024-11-01", "CT", "Head")
SAME_REGION = study("cr-chest-2025", "2025-01-10", "CR", "Chest")
NEITHER = study("mr-knee-2025", "2025-02-01", "MR", "Knee")
LATER = study("ct-chest-later", "2025-06-01", "CT", "Chest")
UNDATED = study("ct-chest-undated", None, "CT", "Chest")


def test_same_modality_and_region_first_then_modality_then_region_then_recency() -> None:
    studies = [CURRENT, NEITHER, SAME_REGION, SAME_BOTH_OLD, LATER, SAME_MODALITY, UNDATED,
               SAME_BOTH_RECENT]
    ranking = rank_priors(CURRENT, studies)
    assert [p.study.id for p in ranking.priors] == [
        "ct-chest-2023", "ct-chest-2019", "ct-chest-undated", "ct-head-2024", "cr-chest-2025",
        "mr-knee-2025"]
    assert ranking.best == SAME_BOTH_RECENT
    scores = [p.score for p in ranking.priors]
    assert scores == sorted(scores, reverse=True)
    assert 3 < ranking.score_of("ct-chest-2023") < 4  # type: ignore[operator]
    assert ranking.score_of("ct-chest-undated") == 3.0
    assert 0 < ranking.score_of("mr-knee-2025") < 1  # type: ignore[operator]
    assert ranking.score_of("current") is None and ranking.score_of("ct-chest-later") is None


def test_the_ranking_does_not_depend_on_the_order_studies_come_in() -> None:
    studies = [SAME_BOTH_OLD, SAME_MODALITY, SAME_REGION, NEITHER]
    orders = {tuple(p.study.id for p in rank_priors(CURRENT, list(o)).priors)
              for o in permutations(studies)}
    assert len(orders) == 1


def test_no_best_prior_when_nothing_shares_modality_or_region() -> None:
    ranking = rank_priors(CURRENT, [CURRENT, NEITHER, LATER])
    assert [p.study.id for p in ranking.priors] == ["mr-knee-2025"]
    assert ranking.best is None
    assert rank_priors(CURRENT, [CURRENT]).priors == ()


def test_a_prior_sharing_one_of_several_modalities_counts_as_same_modality() -> None:
    pet_ct = study("petct", "2025-01-01", "PT/CT", "Chest")
    ranking = rank_priors(study("ct", "2025-03-01", "CT", "Chest"), [pet_ct])
    assert ranking.priors[0].same_modality and ranking.priors[0].same_region


def test_the_axis_places_studies_in_time_order_coloured_by_site_with_year_ticks() -> None:
    studies = [study("a", "2019-05-01", "CT", site="CHU Nord"),
               study("b", "2023-06-02", "MR", site="Centre d'imagerie Sud"),
               study("c", "2025-03-14", "CT", site="CHU Nord"),
               study("d", None, "CR")]
    axis = build_axis(studies, current_id="c", prior_id="a")
    xs = {m.study.id: m.x for m in axis.marks}
    assert set(xs) == {"a", "b", "c"}  # undated: table only
    assert xs["a"] < xs["b"] < xs["c"]
    assert all(40 <= x <= axis.width - 40 for x in xs.values())
    assert [t.label for t in axis.ticks if t.major] == ["2020", "2021", "2022", "2023", "2024",
                                                        "2025"]
    assert not [t for t in axis.ticks if not t.major]  # over three years: years only
    colours = {m.study.id: m.colour for m in axis.marks}
    assert colours["a"] == colours["c"] != colours["b"]
    assert dict(axis.legend) == {"CHU Nord": colours["a"], "Centre d'imagerie Sud": colours["b"]}
    marks = {m.study.id: m for m in axis.marks}
    assert marks["c"].current and not marks["c"].prior
    assert marks["a"].prior and not marks["a"].current
    assert marks["b"].label == "MR"


def test_a_short_span_gets_labelled_months_and_close_studies_get_their_own_lanes() -> None:
    studies = [study(f"s{i}", f"2024-03-{10 + i:02d}", "CT") for i in range(6)]
    axis = build_axis(studies)
    months = [t.label for t in axis.ticks if not t.major]
    assert months[:3] == ["mars", "avr.", "mai"]
    assert axis.ticks[0].major and axis.ticks[0].label == "2024"
    lanes = {m.y for m in axis.marks}
    assert len(lanes) == MAX_LANES  # six studies in six days: spread over every lane
    assert axis.height > max(lanes)


def test_an_axis_without_dated_studies_has_no_marks() -> None:
    axis = build_axis([study("x", None, "CT")])
    assert axis.marks == () and axis.ticks == ()
