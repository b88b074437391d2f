"""reports/audit.md (audit/report.py): a summary row per area, a table per area with case, expected,
observed, count and status; a failing case of a KNOWN_OPEN key is "open, owner: <branch>" and not a
failure, unless SLICERWEB_AUDIT_STRICT=1; any other failing case is FAIL."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit.known_open import KNOWN_OPEN, STRICT_ENV, KnownOpen
from audit.report import Case, Report

OPEN = KnownOpen("nrrd.gzip_bomb", "gzip bombs inflate past the bound", "some-branch")


@pytest.fixture(autouse=True)
def one_known_open(monkeypatch: pytest.MonkeyPatch) -> None:
    """A finding under repair elsewhere (the shipped list may be empty)."""
    monkeypatch.setitem(KNOWN_OPEN, OPEN.key, OPEN)


def _report() -> Report:
    report = Report("quick")
    report.add(Case("attacks", "forged tokens", "401", "401 x15", 15))
    report.add(Case("attacks", "gzip bomb", "4xx", "400, +129 MiB", passed=False, open_key="nrrd.gzip_bomb"))
    report.note("faults", "PostgreSQL: not applicable")
    report.add(Case("faults", "disk | full", "507", "500", passed=False))
    return report


def test_markdown_has_a_summary_and_a_table_per_area(tmp_path: Path) -> None:
    report = _report()
    report.write(tmp_path / "audit.md")
    text = (tmp_path / "audit.md").read_text()
    assert "| attacks | 2 | 1 | 1 | 0 | 0 |" in text and "| faults | 1 | 0 | 0 | 1 | 0 |" in text
    assert "**1 failure(s) outside KNOWN_OPEN.**" in text
    assert "| forged tokens | 401 | 401 x15 | 15 | pass |" in text
    assert "| gzip bomb | 4xx | 400, +129 MiB | 1 | open, owner: some-branch |" in text
    assert "| disk \\| full | 507 | 500 | 1 | FAIL |" in text  # a pipe in a cell does not break the table
    assert "- PostgreSQL: not applicable" in text
    assert [c.name for c in report.failures] == ["disk | full"]


def test_strict_mode_excuses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert [c.name for c in _report().failures] == ["disk | full"]
    monkeypatch.setenv(STRICT_ENV, "1")
    assert [c.name for c in _report().failures] == ["gzip bomb", "disk | full"]
