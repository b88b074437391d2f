"""The proxy's view of an open: which DICOMweb requests ended before the first image, and the server's time on them.

nginx writes one line per request, and one per bearer-check subrequest, to the bench timing log
(edge.py); the two share the request id:

    1764727200.120 0.002 "0.002" 204 GET 9f3c... /_slicerweb_auth
    1764727200.123 0.006 "0.004" 200 GET 9f3c... /dicom/studies/1.2/series/1.3/metadata
    ^ end (epoch s)  ^ total  ^ upstream time (s)                 ^ request id

A request's server time is its upstream time plus its bearer check's. The critical path of the
first image is the chain OHIF waits on: every study/series query and series metadata that ended
before the image, then one frame (the first to end). The server's share is the wall time during
which one of them was in the verifier or the DICOMweb server (the union of their intervals), not
in TLS, nginx or the browser; their plain sum is kept too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

AUTH_PATH = "/_slicerweb_auth"


@dataclass(frozen=True)
class LogLine:
    """One proxied request as nginx saw it (times in seconds)."""

    end: float          # epoch
    total: float        # nginx's request time
    upstream: float     # the server's answer
    status: int
    method: str
    request_id: str
    path: str
    verify: float = 0.0  # its bearer check (the verifier subrequest)
    verify_end: float = 0.0

    def server_intervals(self) -> list[tuple[float, float]]:
        """(start, end) epochs of the bearer check and of the server's answer."""
        spans = [(self.end - self.upstream, self.end)]
        if self.verify:
            spans.append((self.verify_end - self.verify, self.verify_end))
        return spans

    @property
    def server(self) -> float:
        return self.upstream + self.verify

    @property
    def is_frame(self) -> bool:
        return "/frames/" in self.path

    @property
    def is_dicomweb(self) -> bool:
        return self.path == "/dicom" or self.path.startswith("/dicom/")

    @property
    def kind(self) -> str:
        """Which step of opening a study this request is (for the per-step breakdown)."""
        if self.is_frame:
            return "frame"
        if self.path.endswith("/metadata"):
            return "series metadata"
        if self.path.endswith("/series"):
            return "series search"
        if self.path == "/dicom/studies":
            return "study search"
        return "other"


def parse_line(line: str) -> LogLine | None:
    """A `LogLine`, or None for a line in another shape.

    >>> parse_line('1764727200.123 0.006 "0.002, 0.004" 200 GET 9f3c /dicom/studies').upstream
    0.006
    """
    try:
        end, total, rest = line.split(" ", 2)
        upstream, rest = rest[1:].split('" ', 1)
        status, method, request_id, path = rest.split(" ", 3)
        seconds = sum(float(part) for part in upstream.replace(":", ",").split(",") if part.strip() not in ("", "-"))
        return LogLine(float(end), float(total), seconds, int(status), method, request_id, path.strip())
    except ValueError:
        return None


def read_log(path: Path) -> list[LogLine]:
    """The requests in `path`, each with its bearer check's time attached (subrequest lines folded in)."""
    if not path.exists():
        return []
    parsed = [line for text in path.read_text().splitlines() if (line := parse_line(text))]
    checks = {line.request_id: line for line in parsed if line.path == AUTH_PATH}
    return [replace(line, verify=check.upstream, verify_end=check.end) if (check := checks.get(line.request_id))
            else line for line in parsed if line.path != AUTH_PATH]


@dataclass(frozen=True)
class ServerShare:
    """The server's part of one open's time to first image."""

    critical: list[LogLine]
    before_image: list[LogLine]

    @property
    def critical_ms(self) -> float:
        """Wall time during which a critical-path request was in the verifier or the server.

        Concurrent requests (OHIF sends its study searches together) overlap: their union counts
        once, so time a request spent queued behind its sibling is not counted twice.
        """
        spans = sorted(span for line in self.critical for span in line.server_intervals())
        total, reach = 0.0, -math.inf
        for start, end in spans:
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return 1000 * total

    @property
    def critical_sum_ms(self) -> float:
        """The same requests' server times added up (overlaps counted each time)."""
        return 1000 * sum(line.server for line in self.critical)

    @property
    def critical_verify_ms(self) -> float:
        return 1000 * sum(line.verify for line in self.critical)

    def kind_ms(self, kind: str) -> float:
        """Server time of the critical-path requests of one kind (ms)."""
        return 1000 * sum(line.server for line in self.critical if line.kind == kind)

    @property
    def all_before_ms(self) -> float:
        """Server time of every DICOMweb request that ended before the image (they overlap: >= critical)."""
        return 1000 * sum(line.server for line in self.before_image)


def server_share(lines: list[LogLine], start_epoch: float, image_epoch: float, slack: float = 0.002) -> ServerShare:
    """The DICOMweb requests made in [start, image] and the critical path among them.

    A request counts if it both started (end - nginx's request time) and ended in the window: the
    previous open's requests, cut off when its browser context closed, may still be finishing.
    """
    window = [line for line in lines if line.is_dicomweb and start_epoch - slack <= line.end - line.total
              and line.end <= image_epoch + slack]
    frames = sorted((line for line in window if line.is_frame), key=lambda line: line.end)
    critical = [line for line in window if not line.is_frame] + frames[:1]
    return ServerShare(critical, window)
