"""What a serving route asks of the PACS: the study's catalogue (to answer unknown UIDs with a
clear error before any byte is sent) and the Part 10 bytes of a selection, instance by instance.

Lookups go to the PACS (``Pacs.study``); bytes come through the bounded on-disk cache
(``InstanceCache.read_through``), read through from the PACS, so a study is never held in
memory (issue 3, "Serving"). A single cached instance is served without asking the PACS.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from gateway.cache import InstanceCache
from gateway.imaging import Header, header
from gateway.pacs import InstanceInfo, Pacs, StudyInfo


#: a UID as PS3.5 §9.1 allows it
UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")


def valid_uid(value: str) -> bool:
    return len(value) <= 64 and UID.match(value) is not None


class NotFound(Exception):
    """The PACS has no such study, series or instance (or not where the request says)."""


@dataclass(frozen=True)
class Selection:
    """The instances a request names, each with its series, in the PACS's order; ``whole``
    when they are the whole study or the whole series named by ``series_uid``."""

    study: StudyInfo
    instances: list[tuple[str, InstanceInfo]]
    series_uid: str | None = None
    whole: bool = False

    @property
    def study_instance_uid(self) -> str:
        return self.study.study_instance_uid


def select(pacs: Pacs, study_uid: str, series_uid: str | None = None,
           sop_uid: str | None = None) -> Selection:
    """The selection of a WADO request; ``NotFound`` when any UID is unknown or misplaced
    (PS3.18 §8.4.1: 404)."""
    for uid in (study_uid, series_uid, sop_uid):
        if uid is not None and not valid_uid(uid):
            raise NotFound(f"{uid!r} is not a DICOM UID")
    study = pacs.study(study_uid)
    if study is None:
        raise NotFound(f"no study {study_uid}")
    chosen = [(s.series_instance_uid, i) for s in study.series for i in s.instances
              if series_uid in (None, s.series_instance_uid)
              and sop_uid in (None, i.sop_instance_uid)]
    if not chosen:
        where = f"series {series_uid} of study {study_uid}" if series_uid else f"study {study_uid}"
        raise NotFound(f"no instance {sop_uid} in {where}" if sop_uid else f"no {where}")
    return Selection(study, chosen, series_uid, whole=sop_uid is None)


def read(pacs: Pacs, cache: InstanceCache, selection: Selection
         ) -> Iterator[tuple[Header, bytes]]:
    """The selection's instances with their headers, as they arrive (from the cache, or from
    the PACS while caching them)."""
    study = selection.study_instance_uid
    if selection.whole:
        batches: dict[str | None, list[str] | None] = {selection.series_uid: None}
    else:
        batches = {}
        for series_uid, instance in selection.instances:
            batches.setdefault(series_uid, []).append(instance.sop_instance_uid)  # type: ignore[union-attr]
    for series_uid, sops in batches.items():
        fetch = (lambda series_uid=series_uid, sops=sops:  # noqa: E731 (bound per batch)
                 pacs.retrieve(study, series_uid, sops))
        for data in cache.read_through(study, series_uid, sops, fetch):
            yield header(data), data


def cached(cache: InstanceCache, study_uid: str, series_uid: str, sop_uid: str) -> bytes | None:
    """One instance from the cache when it is there under this study and series."""
    opened = cache.open_instance(sop_uid)
    if opened is None:
        return None
    with opened:
        data = opened.read()
    found = header(data)
    if (found.study_instance_uid, found.series_instance_uid) != (study_uid, series_uid):
        return None
    return data
