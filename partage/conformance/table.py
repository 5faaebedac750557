"""The pass table: one row per test/section/step, then ``N passed, N failed``."""

from __future__ import annotations

from collections.abc import Iterable

from partage.conformance.execute import Row

HEADER = ("id", "expected", "got", "result", "reason")


def lines(rows: Iterable[Row]) -> list[str]:
    rows = list(rows)
    cells = [
        (f"{r.test}/{r.section}/{r.step}" if r.section else f"{r.test}/{r.step}",
         r.expected, r.got, "PASS" if r.passed else "FAIL", "; ".join(r.reasons))
        for r in rows
    ]
    widths = [max([len(HEADER[i])] + [min(len(c[i]), 60) for c in cells]) for i in range(4)]
    out = ["  ".join(h.ljust(w) for h, w in zip(HEADER, widths + [0], strict=False)).rstrip()]
    for c in cells:
        out.append("  ".join(v.ljust(w) for v, w in zip(c, widths + [0], strict=False)).rstrip())
    passed = sum(r.passed for r in rows)
    out.append(f"{passed} passed, {len(rows) - passed} failed")
    return out
