"""What an engine reports about its own health: readiness checks and cheap index statistics.

`Readiness.checks` maps a check name ("engine", "index", "storage") to "ok" or a short problem;
`/readyz` answers 503 naming every check that is not "ok". `IndexStatistics` feeds /metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OK = "ok"


@dataclass(frozen=True)
class Readiness:
    """Each check's verdict: "ok" or what is wrong."""

    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(verdict == OK for verdict in self.checks.values())

    @property
    def problems(self) -> dict[str, str]:
        return {name: verdict for name, verdict in self.checks.items() if verdict != OK}


@dataclass(frozen=True)
class IndexStatistics:
    """Counts and stored bytes of the DICOM index (None where an engine cannot tell)."""

    studies: int | None = None
    series: int | None = None
    instances: int | None = None
    stored_bytes: int | None = None
