"""What a serving route asks of the PACS: the study's catalogue (to answer unknown UIDs with a
clear error before any byte is sent) and the Part 10 bytes of a selection, instance by instance.

Lookups go to the PACS (``Pacs.study``) and are kept a short while in a bounded in-memory
catalogue (``Catalogue``: 60 s, a few hundred studies) so repeated requests do not query it
again; a request naming one instance looks up only that one (the cache's index, else a targeted
query when the adapter offers one). Bytes come through the bounded on-disk cache
(``InstanceCache.read_through``), read through from the PACS, so a study is never held in
memory (issue 3, "Serving"). A single cached instance is served without asking the PACS.
"""

from __future__ import annotations

import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from gateway.cache import InstanceCache
from gateway.imaging import Header, header
from gateway.pacs import InstanceInfo, Pacs, SeriesInfo, StudyInfo


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


class Catalogue:
    """Studies as ``Pacs.study`` gave them, kept ``ttl`` seconds, at most ``size`` of them
    (least recently used dropped first). Only studies found are kept: an unknown one is asked
    again next time."""

    def __init__(self, ttl: float = 60.0, size: int = 256) -> None:
        self.ttl = ttl
        self.size = size
        self._lock = threading.Lock()
        self._studies: OrderedDict[str, tuple[float, StudyInfo]] = OrderedDict()
        #: series-level answers (existence of a whole study or series), found ones only
        self._series: OrderedDict[tuple[str, str | None], tuple[float, list[SeriesInfo]]] = (
            OrderedDict())

    def get(self, study_uid: str) -> StudyInfo | None:
        with self._lock:
            entry = self._studies.get(study_uid)
            if entry is None:
                return None
            if time.monotonic() - entry[0] > self.ttl:
                del self._studies[study_uid]
                return None
            self._studies.move_to_end(study_uid)
            return entry[1]

    def put(self, study: StudyInfo) -> None:
        with self._lock:
            self._studies[study.study_instance_uid] = (time.monotonic(), study)
            self._studies.move_to_end(study.study_instance_uid)
            while len(self._studies) > self.size:
                self._studies.popitem(last=False)

    def series(self, study_uid: str, series_uid: str | None) -> list[SeriesInfo] | None:
        """The series a series-level query found for (study, series), if asked lately."""
        with self._lock:
            entry = self._series.get((study_uid, series_uid))
            if entry is None:
                return None
            if time.monotonic() - entry[0] > self.ttl:
                del self._series[(study_uid, series_uid)]
                return None
            self._series.move_to_end((study_uid, series_uid))
            return entry[1]

    def put_series(self, study_uid: str, series_uid: str | None,
                   found: list[SeriesInfo]) -> None:
        with self._lock:
            self._series[(study_uid, series_uid)] = (time.monotonic(), found)
            self._series.move_to_end((study_uid, series_uid))
            while len(self._series) > self.size:
                self._series.popitem(last=False)

    def study(self, pacs: Pacs, study_uid: str, sops: Iterable[str] = ()) -> StudyInfo | None:
        """The study from the catalogue, else (or when it lacks one of ``sops``) from the PACS,
        and then kept."""
        found = self.get(study_uid)
        if found is not None and sops:
            listed = {i.sop_instance_uid for s in found.series for i in s.instances}
            if not all(sop in listed for sop in sops):
                found = None
        if found is None:
            found = pacs.study(study_uid)
            if found is not None:
                self.put(found)
        return found


_catalogues: weakref.WeakKeyDictionary[object, Catalogue] = weakref.WeakKeyDictionary()
_catalogues_lock = threading.Lock()


def catalogue(pacs: Pacs) -> Catalogue:
    """The catalogue of this PACS (one per adapter object)."""
    with _catalogues_lock:
        found = _catalogues.get(pacs)
        if found is None:
            found = _catalogues[pacs] = Catalogue()
        return found


def study_info(pacs: Pacs, study_uid: str, sops: Iterable[str] = ()) -> StudyInfo | None:
    """``pacs.study(study_uid)`` through the PACS's short-lived catalogue (asked again when
    the catalogued study lacks one of ``sops``)."""
    return catalogue(pacs).study(pacs, study_uid, sops)


def _one_instance(pacs: Pacs, cache: InstanceCache | None, study_uid: str, series_uid: str,
                  sop_uid: str) -> Selection | None:
    """The selection of one instance without listing the whole study: from the catalogue,
    the cache's index, or a targeted query; ``None`` when none of these can tell."""
    known = catalogue(pacs).get(study_uid)
    if known is not None:
        return None  # the catalogue answers (found or not) in ``select``
    if cache is not None and cache.locate(sop_uid) == (study_uid, series_uid):
        info = InstanceInfo("", sop_uid)
    else:
        lookup = getattr(pacs, "instance", None)
        if lookup is None:
            return None
        info = lookup(study_uid, series_uid, sop_uid)
        if info is None:
            raise NotFound(f"no instance {sop_uid} in series {series_uid} of study {study_uid}")
    study = StudyInfo(study_uid, series=[SeriesInfo(series_uid, instances=[info])])
    return Selection(study, [(series_uid, info)], series_uid, whole=False)


def select(pacs: Pacs, study_uid: str, series_uid: str | None = None,
           sop_uid: str | None = None, cache: InstanceCache | None = None) -> Selection:
    """The selection of a WADO request; ``NotFound`` when any UID is unknown or misplaced
    (PS3.18 §8.4.1: 404)."""
    for uid in (study_uid, series_uid, sop_uid):
        if uid is not None and not valid_uid(uid):
            raise NotFound(f"{uid!r} is not a DICOM UID")
    if series_uid is not None and sop_uid is not None:
        one = _one_instance(pacs, cache, study_uid, series_uid, sop_uid)
        if one is not None:
            return one
    known = catalogue(pacs)
    study = known.get(study_uid)
    chosen = _chosen(study, series_uid, sop_uid) if study is not None else []
    if not chosen and study is None and sop_uid is None:
        whole = _whole(pacs, study_uid, series_uid)
        if whole is not None:
            return whole
    if not chosen:  # not catalogued, or not there when it was: ask the PACS itself
        study = pacs.study(study_uid)
        if study is None:
            raise NotFound(f"no study {study_uid}")
        known.put(study)
        chosen = _chosen(study, series_uid, sop_uid)
    if not chosen:
        where = f"series {series_uid} of study {study_uid}" if series_uid else f"study {study_uid}"
        raise NotFound(f"no instance {sop_uid} in {where}" if sop_uid else f"no {where}")
    return Selection(study, chosen, series_uid, whole=sop_uid is None)


def _whole(pacs: Pacs, study_uid: str, series_uid: str | None) -> Selection | None:
    """A whole study or series known to exist by a series-level query alone (the instances
    are not listed: reading a whole study or series does not need them); ``None`` when the
    adapter cannot ask that. ``NotFound`` when the PACS has no such series."""
    lookup = getattr(pacs, "series", None)
    if lookup is None:
        return None
    known = catalogue(pacs)
    found = known.series(study_uid, series_uid)
    if found is None:
        found = lookup(study_uid, series_uid)
        if not found:
            raise NotFound(f"no series {series_uid} of study {study_uid}" if series_uid
                           else f"no study {study_uid}")
        known.put_series(study_uid, series_uid, found)
    return Selection(StudyInfo(study_uid, series=found), [], series_uid, whole=True)


def _chosen(study: StudyInfo, series_uid: str | None, sop_uid: str | None
            ) -> list[tuple[str, InstanceInfo]]:
    return [(s.series_instance_uid, i) for s in study.series for i in s.instances
            if series_uid in (None, s.series_instance_uid)
            and sop_uid in (None, i.sop_instance_uid)]


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
    """One instance from the cache when it is there under this study and series (as the
    cache's index, built from the instances' own UIDs, says: nothing is parsed)."""
    if cache.locate(sop_uid) != (study_uid, series_uid):
        return None
    opened = cache.open_instance(sop_uid)
    if opened is None:
        return None
    with opened:
        return opened.read()
