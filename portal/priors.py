"""Which earlier studies matter for reading the current one: a pure ranking, so it can be
tested and explained. A radiologist compares like with like, so a prior of the same modality
and the same body region comes first, then one sharing the modality, then one sharing the
region; within a tier the more recent study wins (it shows the latest known state).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from partage.regional_studies import StudyEntry

#: seconds in an average year, to express a prior's age in years
YEAR_S = 365.25 * 24 * 3600


@dataclass(frozen=True)
class RankedPrior:
    """A prior with its relevance: ``score`` = tier (3 same modality and region, 2 same
    modality, 1 same region, 0 neither) + a recency fraction in [0, 1): 1 / (1 + age in years)
    at the current study's date, 0 when either is undated."""

    study: StudyEntry
    score: float
    same_modality: bool
    same_region: bool


@dataclass(frozen=True)
class PriorRanking:
    """The current study's priors, most relevant first; ``best`` is the first of them when it
    shares the modality or the region with the current study, else ``None`` (a knee X-ray is
    not a prior of a brain MR, however recent)."""

    priors: tuple[RankedPrior, ...]
    best: StudyEntry | None

    def score_of(self, study_id: str) -> float | None:
        return next((p.score for p in self.priors if p.study.id == study_id), None)


def is_prior(candidate: StudyEntry, current: StudyEntry) -> bool:
    """Another study done before the current one (undated studies may be priors of any)."""
    if candidate.id == current.id:
        return False
    if candidate.started is None or current.started is None:
        return True
    return candidate.started < current.started


def rank_priors(current: StudyEntry, studies: Sequence[StudyEntry]) -> PriorRanking:
    """Rank the priors of ``current`` among ``studies`` (any order, ``current`` may be in)."""
    modalities = set(current.modalities)
    regions = {r.casefold() for r in current.regions}
    ranked = []
    for study in studies:
        if not is_prior(study, current):
            continue
        same_modality = bool(modalities & set(study.modalities))
        same_region = bool(regions & {r.casefold() for r in study.regions})
        tier = 2 * same_modality + same_region
        if study.started is not None and current.started is not None:
            age_years = (current.started - study.started).total_seconds() / YEAR_S
            recency = 1.0 / (1.0 + age_years)
        else:
            recency = 0.0  # undated: last of its tier
        ranked.append(RankedPrior(study, tier + recency, same_modality, same_region))
    ranked.sort(key=lambda p: (-p.score, p.study.id))
    best = ranked[0].study if ranked and (ranked[0].same_modality or ranked[0].same_region) \
        else None
    return PriorRanking(tuple(ranked), best)
