"""``partage conformance imaging``: the NIST Imaging Document Source tests (TESTS.md, "Imaging
Document Source") adapted to the three complete studies of ``nist-testkit/imaging-std``.

Without ``--against`` it starts our own source (``site.own_site``), lets the gateway publish the
studies and checks the publications (ids_2018-4800, 4801a/b/c, ``publishing``), then retrieves
(RAD-69: 4803a/b/c, 4811, 4820, ``rad69``; RAD-55: 4802a/b/c, 4810, ``wado``). With ``--against``
only the retrievals run, against another vendor's source that has imported the same images.
One pass-table row per check, then ``N passed, N failed``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx

from partage.conformance import table
from partage.conformance.execute import Row
from partage.conformance.imaging import fixture, publishing, rad69, wado
from partage.conformance.imaging.common import Source


def retrievals(client: httpx.Client, tests: Path, source: Source,
               studies: dict[str, fixture.ImagingStudy]) -> Iterable[Row]:
    yield from rad69.study_rows(client, tests, source, studies)
    yield from rad69.case_rows(client, tests, source, studies)
    yield from wado.study_rows(client, source, studies)
    yield from wado.case_rows(client, tests, source, studies)


def run(material: Path, source: Source | None = None) -> list[Row]:
    """The rows of a run against ``source``, or against our own source when ``None``."""
    from partage.conformance.imaging.site import own_site

    tests = material / "nist-testkit" / "tests"
    studies = fixture.load(material / "nist-testkit" / "imaging-std")
    with httpx.Client(timeout=60.0) as client:
        if source is not None:
            return list(retrievals(client, tests, source, studies))
        with own_site(client, studies) as site:
            rows = list(site.rows)
            rows += publishing.rows(site.endpoints.registry, site.endpoints.repository,
                                    site.endpoints.token, tests, studies)
            rows += retrievals(client, tests, site.source, studies)
            return rows


def main(*, material: Path, against: str | None = None, only: list[str] | None = None,
         repository_uid: str = "", token: str = "", rad69_url: str = "", wado_url: str = "",
         write: Callable[[str], object] = sys.stdout.write) -> int:
    """Run the suite and write its pass table; 0 only when no row failed. ``against`` is the
    peer source's base URL (RAD-69 at ``/rad69`` and WADO-URI at ``/wado`` unless given)."""
    source = None
    if against:
        base = against.rstrip("/")
        source = Source(rad69_url or f"{base}/rad69", wado_url or f"{base}/wado",
                        repository_uid or fixture.NIST_REPOSITORY, token)
    rows = [r for r in run(material, source) if not only or r.test in only]
    for line in table.lines(rows):
        write(line + "\n")
    return 0 if all(r.passed for r in rows) else 1
