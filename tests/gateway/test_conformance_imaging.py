"""``partage conformance imaging``: the NIST Imaging Document Source tests on the imaging-std
studies pass against our own source (registry, repository, Orthanc, gateway, all in-process), and
the same retrieval checks run ``--against`` a gateway tell a refusing source from a good one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from partage.conformance import imaging
from partage.conformance.imaging.fixture import NIST_REPOSITORY, STUDIES
from partage.conformance.suites import IMAGING_TESTS
from partage.orthanc import Orthanc
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.issuer import Issuer

#: rows of the retrieval checks: 4803 and 4802 three per study, 4811 19, 4820 4, 4810 7
RETRIEVAL_ROWS = 3 * 3 + 3 * 3 + 19 + 4 + 7


def run(**options: object) -> tuple[int, list[str]]:
    out: list[str] = []
    code = imaging.main(write=out.append, **options)  # type: ignore[arg-type]
    return code, [line.rstrip("\n") for line in out]


def test_every_check_passes_against_our_own_source(conformance_dir: Path) -> None:
    code, lines = run(material=conformance_dir)
    rows = lines[1:-1]
    assert lines[-1] == f"{len(rows)} passed, 0 failed", "\n".join(lines)
    assert code == 0
    assert all("  PASS" in row for row in rows)
    assert {row.split("/")[0] for row in rows} == set(IMAGING_TESTS)
    # publishing rows: one publish + KOS + metadata per study, two 4800 rows per study
    assert len(rows) == 3 * 3 + 3 * 2 + RETRIEVAL_ROWS


@pytest.fixture
def source(orthanc: Orthanc, conformance_dir: Path, tmp_path: Path
           ) -> Iterator[RunningGateway]:
    """A gateway over an Orthanc holding the three studies, as another vendor's source would."""
    for name in STUDIES.values():
        for path in (conformance_dir / "nist-testkit" / "imaging-std" / name / "images").glob(
                "*.dcm"):
            orthanc.upload(path.read_bytes())
    with Issuer.running() as issuer, running_gateway(
            orthanc, issuer, tmp_path, repository_unique_id=NIST_REPOSITORY) as gateway:
        yield gateway


def test_against_a_source_passes_and_a_refusing_one_fails(
    source: RunningGateway, conformance_dir: Path
) -> None:
    token = source.issuer.token(roles=["radiologist"])
    code, lines = run(material=conformance_dir, against=source.url, token=token)
    assert (code, lines[-1]) == (0, f"{RETRIEVAL_ROWS} passed, 0 failed"), "\n".join(lines)

    only = ["ids_2018-4803a", "ids_2018-4810"]
    patient = source.issuer.token(sub="patient-1", roles=["patient"])
    code, lines = run(material=conformance_dir, against=source.url, token=patient, only=only)
    failed = [row.split()[0] for row in lines[1:-1] if "  FAIL" in row]
    assert code == 1
    # refused images fail: RAD-69 answers XDSRepositoryError, WADO-URI 403 (not 200 or 404)
    assert "ids_2018-4803a/Rad69RetrieveRequest/Rad69RetrieveRequest" in failed
    assert "ids_2018-4810/case-00_Comparison_Transaction/Rad55RetrieveRequest" in failed

    code, lines = run(material=conformance_dir, against=source.url, token=token,
                      repository_uid="1.2.3.4", only=["ids_2018-4811"])
    assert code == 1
    assert "ids_2018-4811/case-00_Comparison_Transaction/request-0" in "\n".join(
        row for row in lines if "  FAIL" in row)
