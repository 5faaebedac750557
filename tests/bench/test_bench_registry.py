"""The registry benchmark end to end at a tiny size: real HTTP, real SOAP, real rows."""

from __future__ import annotations

import dataclasses

import pytest

from bench import registry
from bench.loader import build_batch, plan
from bench.rows import OBJECT_COLUMNS, object_row
from bench.synthetic import Region
from ihe.ebrim import Status
from registry import crud
from registry.models import RegistryObjectRow

KEYS = {
    "find_documents_p50_ms_10k", "find_documents_p99_ms_10k",
    "find_documents_p50_ms_1m", "find_documents_p99_ms_1m",
    "register_docs_per_s", "register_single_docs_per_s", "backend", "entries_10k",
    "entries_1m",
}


def test_loaded_rows_are_those_of_crud() -> None:
    """Every column ITI-42 writes is loaded, with the value crud.add_objects would write."""
    assert set(OBJECT_COLUMNS) == {c.name for c in RegistryObjectRow.__table__.columns} - {"id"}
    for obj in Region(seed=3).submission(patient=7, studies=4).objects:
        row, codes = object_row(obj, Status.APPROVED)  # type: ignore[arg-type]
        values = crud.row_values(obj, status=Status.APPROVED)  # type: ignore[arg-type]
        assert dict(zip(OBJECT_COLUMNS, row, strict=True)) == values
        assert codes == crud.code_index(obj)  # type: ignore[arg-type]


def test_plan_keeps_the_density_and_the_total() -> None:
    chunks = plan(first_patient=10, patients=20, entries=2000, chunk_entries=300)
    pairs = [p for c in chunks for p in c.patients]
    assert [p for p, _ in pairs] == list(range(10, 30))
    assert sum(n for _, n in pairs) == 2000
    assert len({c.seed for c in chunks}) == len(chunks)
    assert build_batch(chunks[0]).entries == sum(n for _, n in chunks[0].patients)


def test_tiny_run_reports_every_figure() -> None:
    cfg = dataclasses.replace(
        registry.Config(backend="sqlite"), small=300, large=1200, queries=20, warmup=2,
        submissions=4, register_threads=2, workers=0, chunk_entries=400,
        load_seconds=120, measure_seconds=60,
    )
    result = registry.run(cfg)
    assert KEYS <= result.keys()
    assert result["backend"] == "sqlite"
    assert (result["entries_10k"], result["entries_1m"]) == (300, 1200)
    for key in KEYS - {"backend"}:
        assert isinstance(result[key], (int, float)) and result[key] > 0, key
    assert result["find_documents_mean_results_1m"] > 0
    assert "FindDocuments p99" in registry.table(result)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_full_sizes_keep_the_density(backend: str) -> None:
    for quick in (False, True):
        cfg = registry.Config.for_run(backend, quick)
        assert cfg.small % registry.ENTRIES_PER_PATIENT == 0
        assert cfg.large % registry.ENTRIES_PER_PATIENT == 0
