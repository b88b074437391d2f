"""Audit cases and reports/audit.md: one table per area (case, expected, observed, count, status) and
a summary table. A case whose key is in KNOWN_OPEN and fails is "open, owner: <branch>", not a failure."""

from __future__ import annotations

import datetime
import platform
from dataclasses import dataclass, field
from pathlib import Path

from .known_open import KNOWN_OPEN, owner_of

PASS, FAIL, SKIP = "pass", "FAIL", "skipped"


@dataclass
class Case:
    area: str
    name: str
    expected: str
    observed: str
    count: int = 1
    passed: bool = True
    open_key: str | None = None   # a KNOWN_OPEN key this case reproduces
    skipped: bool = False

    @property
    def status(self) -> str:
        if self.skipped:
            return SKIP
        if self.passed:
            return PASS
        owner = owner_of(self.open_key) if self.open_key else None
        return f"open, owner: {owner}" if owner else FAIL

    @property
    def failed(self) -> bool:
        return self.status == FAIL


@dataclass
class Report:
    mode: str
    cases: list[Case] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)
    areas: list[str] = field(default_factory=list)

    def add(self, case: Case) -> Case:
        if case.area not in self.areas:
            self.areas.append(case.area)
        self.cases.append(case)
        mark = {PASS: "ok  ", FAIL: "FAIL", SKIP: "skip"}.get(case.status, "open")
        print(f"  [{mark}] {case.area}: {case.name}: {case.observed}", flush=True)
        return case

    def note(self, area: str, text: str) -> None:
        if area not in self.areas:
            self.areas.append(area)
        self.notes.setdefault(area, []).append(text)
        print(f"  [note] {area}: {text}", flush=True)

    @property
    def failures(self) -> list[Case]:
        return [c for c in self.cases if c.failed]

    def summary_rows(self) -> list[tuple[str, int, int, int, int, int]]:
        rows = []
        for area in self.areas:
            cases = [c for c in self.cases if c.area == area]
            rows.append((area, len(cases), sum(c.status == PASS for c in cases),
                         sum(c.status.startswith("open") for c in cases), sum(c.failed for c in cases),
                         sum(c.skipped for c in cases)))
        return rows

    def markdown(self) -> str:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [f"# SlicerWeb audit ({self.mode})", "",
                 f"{now} on {platform.node()} ({platform.platform()}); `make audit` "
                 f"(`python -m audit{' --quick' if self.mode == 'quick' else ''}`).", "",
                 "## Summary", "", "| area | cases | pass | open (known) | FAIL | skipped |",
                 "|---|---|---|---|---|---|"]
        lines += [f"| {a} | {n} | {p} | {o} | {f} | {s} |" for a, n, p, o, f, s in self.summary_rows()]
        total_failed = len(self.failures)
        lines += ["", f"**{total_failed} failure(s) outside KNOWN_OPEN.**", ""]
        for area in self.areas:
            lines += [f"## {area}", ""]
            lines += [f"- {text}" for text in self.notes.get(area, [])]
            cases = [c for c in self.cases if c.area == area]
            if cases:
                lines += (["", "| case | expected | observed | count | status |", "|---|---|---|---|---|"]
                          if self.notes.get(area) else
                          ["| case | expected | observed | count | status |", "|---|---|---|---|---|"])
                lines += [f"| {_cell(c.name)} | {_cell(c.expected)} | {_cell(c.observed)} | {c.count} | {c.status} |"
                          for c in cases]
            lines.append("")
        lines += ["## Known open findings (KNOWN_OPEN, audit/known_open.py)", "",
                  "| key | finding | owner |", "|---|---|---|"]
        lines += [f"| {k} | {_cell(v.finding)} | {v.owner} |" for k, v in KNOWN_OPEN.items()]
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.markdown())


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")[:300]
