"""The printed table: one row per request, both servers side by side, and the throughput ratio."""

from __future__ import annotations

import math

from .measure import Result

HEADER = ("request", "SlicerWeb p50", "p95", "throughput", "Orthanc p50", "p95", "throughput", "SW/Orthanc")


def ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def rate(result: Result | None) -> str:
    if result is None or result.error or math.isnan(result.throughput):
        return "-"
    value = result.throughput
    digits = 0 if value >= 100 else 1 if value >= 10 else 2
    return f"{value:.{digits}f} {result.unit}"


def cells(result: Result | None) -> list[str]:
    if result is None:
        return ["n/a", "", ""]
    if result.error:
        return [f"ERR {result.error}"[:40], "", ""]
    return [ms(result.percentile(50)), ms(result.percentile(95)), rate(result)]


def ratio(ours: Result | None, theirs: Result | None) -> str:
    if ours is None or theirs is None or ours.error or theirs.error:
        return "-"
    if theirs.throughput <= 0 or math.isnan(theirs.throughput) or math.isnan(ours.throughput):
        return "-"
    return f"{ours.throughput / theirs.throughput:.2f}x"


def render(rows: list[tuple[str, Result | None, Result | None]]) -> str:
    lines = [list(HEADER)] + [[label, *cells(a), *cells(b), ratio(a, b)] for label, a, b in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    out = []
    for n, line in enumerate(lines):
        out.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths,
                                                                                                          strict=True))))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
