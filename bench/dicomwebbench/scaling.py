"""Worker scaling: SlicerWeb's study list and single frame with 1 and with 2 worker processes.

The same server (same data directory, same index) is restarted with `--workers 1` and `--workers 2`
in alternation, `rounds` times each (1, 2, 1, 2, ...), and every time sent the same load as the main
table's throughput column (`Budget.concurrency` connections for `Budget.seconds`). Alternating
spreads the background load of a shared machine over both counts; the best run of each count is
kept, and the table prints every run so the noise shows.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from slicerweb.demo.benchmark_studies import BenchmarkDataset

from .measure import Result, throughput
from .scenarios import Budget, JsonCall, load_calls
from .servers import SlicerWebServer

COUNTS = (1, 2)
LABELS = {"study_list": "study list (OHIF query)", "frame": "single frame"}

Runs = dict[str, dict[int, list[Result]]]  # row -> worker count -> one Result per round


def worker_scaling(server: SlicerWebServer, data: BenchmarkDataset, budget: Budget, rounds: int = 2,
                   log: Callable[[str], None] = print) -> Runs:
    """Restart `server` with each worker count in turn and measure the rows of LABELS; `server` is
    stopped when this returns."""
    runs: Runs = {key: {count: [] for count in COUNTS} for key in LABELS}
    calls = load_calls(data, stowed=True)  # the main table's STOW rows ran before
    try:
        for round_number in range(rounds):
            for count in COUNTS:
                server.stop()
                server.workers = count
                try:
                    server.start()
                except RuntimeError as exc:  # e.g. a server without --workers: an error cell, not the end
                    log(f"scaling: {exc}")
                    for key in LABELS:
                        runs[key][count].append(Result(error=str(exc)[:60]))
                    continue
                log(f"scaling: {count} worker(s), round {round_number + 1}/{rounds}")
                for key in LABELS:
                    runs[key][count].append(_load(calls[key](server.dicomweb), budget))
    finally:
        server.stop()
    return runs


def _load(call: Callable[[httpx.Client], float], budget: Budget) -> Result:
    result = throughput(call, concurrency=budget.concurrency, total=budget.reps * 4, budget=budget.seconds)
    if isinstance(call, JsonCall):
        call.verify(result)
    return result


def best(results: list[Result]) -> Result | None:
    """The run with the highest throughput (None if every run failed)."""
    good = [r for r in results if not r.error and r.elapsed > 0]
    return max(good, key=lambda r: r.throughput) if good else None


def render_scaling(runs: Runs, budget: Budget) -> str:
    """The block printed under the main table."""
    lines = [f"Worker scaling (SlicerWeb only; {budget.concurrency} concurrent connections for {budget.seconds:g} s "
             "per run; runs alternate 1, 2, 1, 2 workers; best run kept, every run in brackets):"]
    header = ("request", "1 worker", "2 workers", "2 workers / 1")
    table = [header]
    for key, label in LABELS.items():
        one, two = best(runs[key][1]), best(runs[key][2])
        table.append((label, _cell(one, runs[key][1]), _cell(two, runs[key][2]),
                      f"{two.throughput / one.throughput:.2f}x" if one and two else "-"))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for n, row in enumerate(table):
        lines.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in
                               enumerate(zip(row, widths, strict=True))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(chosen: Result | None, results: list[Result]) -> str:
    if chosen is None:
        errors = [r.error for r in results if r.error]
        return f"ERR {errors[0][:30]}" if errors else "-"
    every = ", ".join(f"{r.throughput:.0f}" if not r.error else "ERR" for r in results)
    return f"{chosen.throughput:.0f} req/s [{every}]"
