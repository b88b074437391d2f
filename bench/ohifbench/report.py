"""Medians, p90s and the SlicerWeb/Orthanc ratio of the opens, as one table."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from .timeline import ServerShare
from .viewer import Open

GOAL_SERVER_MS = 50.0


@dataclass
class SiteFigures:
    """Every timed open of one site (and the untimed first one, with cold server caches)."""

    name: str
    version: str
    cold: Open | None = None
    opens: list[Open] = field(default_factory=list)
    shares: list[ServerShare] = field(default_factory=list)
    replayed: list[float] = field(default_factory=list)
    error: str = ""


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def p90(values: list[float]) -> float:
    """Nearest-rank 90th percentile."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


Metric = Callable[[SiteFigures], list[float]]


def per_kind(kind: str) -> Metric:
    """Server time of one kind of critical-path request, per open."""
    return lambda site: [share.kind_ms(kind) for share in site.shares]


METRICS: list[tuple[str, Metric, bool]] = [
    ("first image after opening the study, ms", lambda s: [o.to_image_ms for o in s.opens], True),
    ("  OHIF before its first DICOMweb request, ms", lambda s: [o.study_start_ms - o.opened_ms for o in s.opens],
     True),
    ("  first DICOMweb request to image, ms", lambda s: [o.first_image_ms - o.study_start_ms for o in s.opens], True),
    ("  OHIF's own studyToFirstImage, ms", lambda s: [o.ohif_study_to_image_ms for o in s.opens
                                                     if o.ohif_study_to_image_ms is not None], True),
    ("DICOMweb requests sent before the first image", lambda s: [o.requests_before_image for o in s.opens], False),
    ("server time on the critical path (wall), ms", lambda s: [x.critical_ms for x in s.shares], True),
    ("  same requests' server times added up, ms", lambda s: [x.critical_sum_ms for x in s.shares], True),
    ("  of which bearer checks (verifier subrequests), ms", lambda s: [x.critical_verify_ms for x in s.shares], True),
    ("  requests on it", lambda s: [len(x.critical) for x in s.shares], False),
    ("  study searches (QIDO), ms", per_kind("study search"), True),
    ("  series search (QIDO), ms", per_kind("series search"), True),
    ("  series metadata, ms", per_kind("series metadata"), True),
    ("  first frame, ms", per_kind("frame"), True),
    ("critical path replayed without the browser, ms", lambda s: s.replayed, True),
    ("all DICOMweb ended before it, server times summed, ms", lambda s: [x.all_before_ms for x in s.shares], True),
]


def cell(values: list[float], spread: bool) -> str:
    if not values:
        return "-"
    return f"{p50(values):.0f} / {p90(values):.0f}" if spread else f"{p50(values):.0f}"


def ratio(ours: list[float], theirs: list[float]) -> str:
    if not ours or not theirs or p50(theirs) == 0:
        return "-"
    return f"{p50(ours) / p50(theirs):.2f}"


def render(ours: SiteFigures, theirs: SiteFigures) -> str:
    """The table (p50 / p90 per site; ratio of medians SlicerWeb/Orthanc, < 1 means SlicerWeb is faster)."""
    width = 54
    lines = [f"{'':<{width}}{ours.name + ' p50 / p90':>20}{theirs.name + ' p50 / p90':>20}{'ratio':>8}"]
    for label, metric, spread in METRICS:
        mine, peer = metric(ours), metric(theirs)
        lines.append(f"{label:<{width}}{cell(mine, spread):>20}{cell(peer, spread):>20}{ratio(mine, peer):>8}")
    cold = [f"{s.cold.to_image_ms:.0f}" if s.cold else "-" for s in (ours, theirs)]
    lines.append(f"{'first open after start (cold caches, untimed), ms':<{width}}{cold[0]:>20}{cold[1]:>20}")
    for site in (ours, theirs):
        if site.error:
            lines.append(f"{site.name}: ERROR {site.error}")
    return "\n".join(lines)


def verdict(ours: SiteFigures, theirs: SiteFigures) -> str:
    """The goal: SlicerWeb's first image no later than Orthanc's, with the server's share under 50 ms."""
    mine = p50([o.to_image_ms for o in ours.opens])
    peer = p50([o.to_image_ms for o in theirs.opens])
    share = p50([x.critical_ms for x in ours.shares])
    first = ("met" if mine <= peer else "NOT met") if not math.isnan(mine + peer) else "not measured"
    server = ("met" if share < GOAL_SERVER_MS else "NOT met") if not math.isnan(share) else "not measured"
    return (f"goal: first image no later than Orthanc's: {first} ({mine:.0f} vs {peer:.0f} ms); "
            f"server share under {GOAL_SERVER_MS:.0f} ms: {server} ({share:.1f} ms)")
