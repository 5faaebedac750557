"""Which NIST tests make up each suite (``nist-testkit/TESTS.md`` tables), and what must be
loaded before them."""

from __future__ import annotations

#: the patient identity feeds run first in every suite: test id → which run patient it feeds
PIF_TESTS = {"15817": "default", "15817b": "second"}

SUITES: dict[str, tuple[str, ...]] = {
    "registry": (
        "11990", "11991", "11992", "11993", "11994", "11995", "12022", "12327", "12370",
        "11996", "11997", "11998", "11998a", "12084", "12004", "15806", "12379", "11999",
        "12000", "12000.1a", "12001", "12326", "12002", "12323", "12051",
    ),
    "stored-query": (
        "11897", "11898", "11899", "11901", "11902", "11903", "11904", "11905", "11906",
        "11907", "11908", "11909", "15803", "12368",
    ),
    "repository": (
        "11966", "11979", "11981", "12369", "11983", "11986", "12029", "12021", "12360",
        "15816", "PnrXop", "PnrNoXop", "ReposAcceptanceTest-1111", "ReposAcceptanceTest-1112",
        "ReposAcceptanceTest-1113",
    ),
}

#: the Imaging Document Source suite: its own runner (``partage.conformance.imaging``), on the
#: imaging-std studies rather than NIST test plans run step by step
IMAGING_SUITE = "imaging"
IMAGING_TESTS = (
    "ids_2018-4800", "ids_2018-4801a", "ids_2018-4801b", "ids_2018-4801c", "ids_2018-4802a",
    "ids_2018-4802b", "ids_2018-4802c", "ids_2018-4803a", "ids_2018-4803b", "ids_2018-4803c",
    "ids_2018-4810", "ids_2018-4811", "ids_2018-4820",
)

#: data loaded (and reported) before a suite's tests, on a fresh patient (TESTS.md: the
#: stored-query tests count exact results)
#: suites whose data goes to a patient of its own, fed before the preloads
FRESH_PATIENT_SUITES = frozenset({"stored-query"})

PRELOAD: dict[str, tuple[str, ...]] = {"stored-query": ("12346", "12374")}

#: data sets NIST loads on a second patient of their own (TESTS.md: "12374 for a second
#: patient"; 12361 holds the extra patients of the multi-patient query)
OWN_PATIENT_TESTS = frozenset({"12374", "12361"})

#: sections a test's ``index.idx`` leaves out but TESTS.md lists as part of what it checks:
#: 15816 "Retrieve a good uid, an unknown uid (Failure) and a mix (PartialSuccess)"
EXTRA_SECTIONS: dict[str, tuple[str, ...]] = {"15816": ("Retrieve",)}

#: optional tests, run only when named with --only, with their own data
OPTIONAL: dict[str, tuple[str, ...]] = {"12364": ("12361",)}


def plan(suite: str, only: list[str] | None) -> list[tuple[str, tuple[str, ...]]]:
    """(suite, tests in order, preloads included) for ``suite`` (``all``: every suite)."""
    names = list(SUITES) if suite == "all" else [suite]
    out = []
    for name in names:
        tests = list(SUITES[name])
        if only:
            tests = [t for t in tests if t in only]
            if name == "stored-query":
                tests += [t for t in OPTIONAL if t in only]
            if not tests:
                continue
        loads = list(PRELOAD.get(name, ()))
        for t in tests:
            loads += [d for d in OPTIONAL.get(t, ()) if d not in loads]
        out.append((name, tuple(loads + tests)))
    return out
