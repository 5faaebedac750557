"""RAD-55 WADO-URI checks: ids_2018-4802a/b/c (every image of a study, unchanged) and
ids_2018-4810 cases 00–06 (UIDs that name nothing, empty ones included: HTTP 404).

NIST's ``images.txt`` lines (study:series:instance) and ``Parameters`` name ids_2018 UIDs; the
imaging-std ones take their place by role (``CASES``), as in the RAD-69 checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
from lxml import etree
from pydicom.dataset import Dataset
from pydicom.uid import UID

from partage.conformance.execute import Row
from partage.conformance.imaging.common import Source, Target, same_image
from partage.conformance.imaging.fixture import ImagingStudy

DICOM = "application/dicom"

#: ids_2018-4810: case directory → what it names and the HTTP status it needs
CASES = {
    "case-00_Comparison_Transaction": (Target("a", "a", "a"), 200),
    "case-01_Unknown_SOP_Instance_UID": (Target("a", "a", "?"), 404),
    "case-02_UID_wrong_series": (Target("b", "a", "b"), 404),
    "case-03_UID_wrong_study": (Target("a", "b", "b"), 404),
    "case-04_Study_UID_empty": (Target("", "b", "b"), 404),
    "case-05_Series_UID_empty": (Target("b", "", "b"), 404),
    "case-06_Study_Series_UID_empty": (Target("", "", "b"), 404),
}


def get(client: httpx.Client, source: Source, study: str, series: str, sop: str,
        syntax: str = "") -> httpx.Response | str:
    """One WADO-URI request for the Part 10 instance (PS3.18 §9); the stored syntax is asked
    for when it is compressed (WADO-URI's default is Explicit VR Little Endian)."""
    params = {"requestType": "WADO", "studyUID": study, "seriesUID": series, "objectUID": sop,
              "contentType": DICOM}
    if syntax and UID(syntax).is_compressed:
        params["transferSyntax"] = syntax
    try:
        return client.get(source.wado_url, params=params, headers=source.headers())
    except httpx.HTTPError as exc:
        return f"HTTP error: {exc}"


def _syntax(ds: Dataset) -> str:
    return str(ds.file_meta.TransferSyntaxUID)


def study_rows(client: httpx.Client, source: Source, studies: dict[str, ImagingStudy]
               ) -> Iterator[Row]:
    """ids_2018-4802x: every image of the study by WADO-URI, then NIST's response and image
    validations."""
    for letter, study in studies.items():
        test = f"ids_2018-4802{letter}"
        answers = [get(client, source, study.study_uid, str(ds.SeriesInstanceUID),
                       str(ds.SOPInstanceUID), _syntax(ds)) for ds in study.images]
        codes = [a.status_code if isinstance(a, httpx.Response) else a for a in answers]
        count = len(study.images)
        yield Row(test, "Rad55RetrieveRequest", "Rad55RetrieveRequest", f"200 x{count}",
                  ",".join(sorted({str(c) for c in codes})),
                  [f"{ds.SOPInstanceUID}: {c}" for ds, c in zip(study.images, codes, strict=True)
                   if c != 200])
        ok = [a for a in answers if isinstance(a, httpx.Response) and a.status_code == 200]
        types = sorted({a.headers.get("content-type", "").split(";")[0] for a in ok})
        yield Row(test, "ValidateRad55Response", "ValidateRad55Response", DICOM,
                  ",".join(types) or "-",
                  [f"Content-Type {t!r}" for t in types if t != DICOM]
                  + ([] if len(ok) == count else [f"{count - len(ok)} requests failed"]))
        reasons = [r for a in ok for r in same_image(a.content, {letter: study})]
        yield Row(test, "ValidateReturnedImages", "ValidateReturnedImages",
                  f"{count} images unchanged", f"{len(ok)} compared",
                  reasons or ([] if ok else ["no image returned"]))


def case_rows(client: httpx.Client, tests: Path, source: Source,
              studies: dict[str, ImagingStudy]) -> Iterator[Row]:
    """ids_2018-4810: one request per case, judged on its HTTP status."""
    for case, (target, status) in CASES.items():
        plan = etree.parse(str(tests / "ids_2018-4810" / case / "testplan.xml"),
                           etree.XMLParser(resolve_entities=False, no_network=True))
        step = str(next(plan.iter("TestStep")).get("id"))
        study, series, sop = target.uids(studies)
        answer = get(client, source, study, series, sop)
        got = answer.status_code if isinstance(answer, httpx.Response) else answer
        row = Row("ids_2018-4810", case, step, str(status), str(got))
        if got != status:
            row.reasons.append(f"HTTP {got} != {status}")
        elif status == 200 and isinstance(answer, httpx.Response):
            row.reasons += same_image(answer.content, studies)
        yield row
