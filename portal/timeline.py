"""The geometry of a patient's time axis (an inline SVG above the studies table): where each
study sits, which ticks label the years and months, one colour per site. Pure: the template
only draws what this computes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from partage.regional_studies import StudyEntry

WIDTH = 960
MARGIN = 40
LANE_HEIGHT = 26
AXIS_Y = 22
#: marks closer than this (px) on the axis go to the next lane
MIN_GAP = 30
MAX_LANES = 4
#: distinguishable colours (Okabe-Ito, colour-blind safe), one per site in name order
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
MONTHS_FR = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.",
             "nov.", "déc.")


@dataclass(frozen=True)
class Tick:
    x: float
    label: str
    #: a year boundary (longer line) rather than a month
    major: bool


@dataclass(frozen=True)
class Mark:
    study: StudyEntry
    x: float
    y: float
    colour: str
    label: str
    current: bool
    prior: bool


@dataclass(frozen=True)
class Axis:
    width: int
    height: int
    axis_y: int
    #: where the axis line starts and ends
    left: int
    right: int
    ticks: tuple[Tick, ...]
    marks: tuple[Mark, ...]
    #: (site name, colour), in legend order
    legend: tuple[tuple[str, str], ...]


def site_colours(studies: Sequence[StudyEntry]) -> dict[str, str]:
    sites = sorted({s.site for s in studies})
    return {site: PALETTE[i % len(PALETTE)] for i, site in enumerate(sites)}


def _month_start(year: int, month: int) -> datetime:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return datetime(year, month, 1, tzinfo=UTC)


def build_axis(studies: Sequence[StudyEntry], *, current_id: str | None = None,
               prior_id: str | None = None, width: int = WIDTH) -> Axis:
    """The axis of the dated ``studies`` (undated ones appear in the table only): it spans
    whole months around them, with a labelled tick per year, and per month when the span
    is under three years (labelled when under one)."""
    colours = site_colours(studies)
    dated = sorted((s for s in studies if s.started), key=lambda s: s.started)  # type: ignore
    legend = tuple(colours.items())
    if not dated:
        return Axis(width, AXIS_Y + LANE_HEIGHT, AXIS_Y, MARGIN, width - MARGIN, (), (), legend)
    first, last = dated[0].started, dated[-1].started
    assert first is not None and last is not None
    start = _month_start(first.year, first.month - 1)
    end = _month_start(last.year, last.month + 2)
    span = (end - start).total_seconds()
    usable = width - 2 * MARGIN

    def x_of(moment: datetime) -> float:
        return round(MARGIN + usable * (moment - start).total_seconds() / span, 1)

    months = (end.year - start.year) * 12 + end.month - start.month
    ticks = []
    for i in range(months + 1):
        moment = _month_start(start.year, start.month + i)
        if moment.month == 1:
            ticks.append(Tick(x_of(moment), str(moment.year), True))
        elif months <= 36:
            label = MONTHS_FR[moment.month - 1] if months <= 12 else ""
            ticks.append(Tick(x_of(moment), label, False))
    if not any(t.major for t in ticks):  # a span inside one year still says which
        ticks = [Tick(x_of(start), str(start.year), True)] + [t for t in ticks
                                                              if t.x != x_of(start)]

    marks = []
    lane_ends: list[float] = []
    for study in dated:
        assert study.started is not None
        x = x_of(study.started)
        lane = next((i for i, end_x in enumerate(lane_ends) if x - end_x >= MIN_GAP), None)
        if lane is None:
            if len(lane_ends) < MAX_LANES:
                lane_ends.append(x)
                lane = len(lane_ends) - 1
            else:
                lane = min(range(MAX_LANES), key=lambda i: lane_ends[i])
        lane_ends[lane] = x
        marks.append(Mark(
            study=study, x=x, y=AXIS_Y + LANE_HEIGHT * (lane + 1), colour=colours[study.site],
            label="/".join(study.modalities) or "?", current=study.id == current_id,
            prior=study.id == prior_id,
        ))
    height = AXIS_Y + LANE_HEIGHT * (len(lane_ends) + 1)
    return Axis(width, height, AXIS_Y, MARGIN, width - MARGIN, tuple(ticks), tuple(marks),
                legend)
