"""`python -m audit [--quick] [--only AREA ...] [--out reports/audit.md]`: run the audit, print
progress, write the report; exit 1 if any case failed outside KNOWN_OPEN, 2 if a prerequisite is
missing for every area asked for."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from . import areas, prerequisites
from .report import Report

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m audit", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short subset (what the default test suite runs)")
    parser.add_argument("--only", nargs="*", choices=list(areas.AREAS), help="run only these areas")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "audit.md", help="report path")
    args = parser.parse_args(argv)
    report = Report("quick" if args.quick else "full")
    missing = prerequisites.missing()
    if missing:
        for line in missing:
            print(f"audit: {line}", file=sys.stderr)
        return 2
    names = args.only or list(areas.AREAS)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="slicerweb-audit-") as scratch:
        areas.run(names, Path(scratch), report, quick=args.quick)
    report.note("run", f"areas {', '.join(names)} in {time.monotonic() - started:.0f} s")
    report.write(args.out)
    failures = report.failures
    print(f"audit: {len(report.cases)} cases, {len(failures)} failure(s) outside KNOWN_OPEN; report: {args.out}")
    for case in failures:
        print(f"  FAIL {case.area}: {case.name}: expected {case.expected}; observed {case.observed}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
