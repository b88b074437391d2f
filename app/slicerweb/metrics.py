"""The Prometheus instruments of one app, and their text exposition.

One `CollectorRegistry` per app (no process-wide globals: tests build many apps). With
`PROMETHEUS_MULTIPROC_DIR` set (`serve --workers N`: the supervisor gives its workers a private, empty one),
prometheus_client writes every value to per-process files there and the exposition merges them with its
`MultiProcessCollector`: a scrape through the shared socket lands on any one worker and counts all of them.
Labels hold only bounded values: families, route *templates* (never raw paths: a path carries UIDs),
known methods, status codes and fixed reason names. Index figures come from the engine, cached a
few seconds so a busy scraper cannot turn into a load on the index.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .engine.health_api import IndexStatistics
from .engine.protocol import Engine
from .features import TOGGLEABLE, FeatureFlags

__all__ = ["CONTENT_TYPE_LATEST", "AppMetrics"]

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
STATISTICS_TTL = 5.0  # seconds index figures are reused
_DENIAL_REASONS = {400: "bad_request", 401: "unauthenticated", 403: "insufficient_scope", 429: "too_many_failures"}


class AppMetrics:
    """Counters, histograms and gauges of one app; `observe_audit` is an AuditLog observer."""

    def __init__(self, engine: Engine, flags: FeatureFlags) -> None:
        self.engine = engine
        self.flags = flags
        self.multiprocess_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("slicerweb_http_requests", "HTTP requests answered",
                                ["family", "route", "method", "status"], registry=r)
        self.latency = Histogram("slicerweb_http_request_duration_seconds",
                                 "Time from request start to the last body byte sent", ["family", "route", "method"],
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60), registry=r)
        self.bytes_in = Counter("slicerweb_http_request_bytes", "Request body bytes received", ["family"], registry=r)
        self.bytes_out = Counter("slicerweb_http_response_bytes", "Response body bytes sent", ["family"], registry=r)
        self.rate_limited = Counter("slicerweb_http_rate_limited", "Requests answered 429", ["family"], registry=r)
        self.auth_failures = Counter("slicerweb_auth_failures", "Refused authentications and authorizations",
                                     ["reason"], registry=r)
        self.toggles = Counter("slicerweb_feature_toggles", "Runtime feature changes by admins or the operator",
                               ["feature", "enabled"], registry=r)
        self.exec_runs = Counter("slicerweb_exec_runs", "Remote exec calls run", ["outcome"], registry=r)
        self.stored_instances = Counter("slicerweb_dicomweb_stow_instances",
                                        "STOW-RS parts by outcome: stored, already_stored, failed (with the "
                                        "PS3.18 failure reason)", ["outcome", "reason"], registry=r)
        self.stream_failures = Counter("slicerweb_dicomweb_stream_failures",
                                       "DICOMweb answers cut off after their status line was sent (see the log)",
                                       ["kind"], registry=r)
        gauge_mode: dict[str, Any] = {"multiprocess_mode": "mostrecent"} if self.multiprocess_dir else {}
        self.feature_enabled = Gauge("slicerweb_feature_enabled", "1 when the feature is on now (policy + override)",
                                     ["feature"], registry=r, **gauge_mode)
        self.index = Gauge("slicerweb_dicom_index_objects", "Objects in the DICOM index", ["level"], registry=r,
                           **gauge_mode)
        # Only for an engine with a main thread to wait for (Slicer): the headless engine exports none.
        self.queue_depth = Gauge("slicerweb_engine_queue_depth", "Engine calls waiting for Slicer's main thread",
                                 registry=r, **gauge_mode) if engine.queue_depth() is not None else None
        self.stored_bytes = Gauge("slicerweb_dicom_stored_bytes", "Bytes of stored DICOM instances (from the index)",
                                  registry=r, **gauge_mode)
        self._statistics: tuple[float, IndexStatistics] | None = None
        self._lock = asyncio.Lock()

    def observe_request(self, family: str, route: str, method: str, status: int, seconds: float,
                        received: int, sent: int) -> None:
        method = method if method in METHODS else "OTHER"
        self.requests.labels(family, route, method, str(status)).inc()
        self.latency.labels(family, route, method).observe(seconds)
        self.bytes_in.labels(family).inc(received)
        self.bytes_out.labels(family).inc(sent)
        if status == 429:
            self.rate_limited.labels(family).inc()

    def observe_audit(self, entry: dict[str, Any]) -> None:
        """Count the audited events that are metrics too (called by AuditLog for every record)."""
        event = entry.get("event")
        if event == "access.denied":
            self.auth_failures.labels(_DENIAL_REASONS.get(int(entry.get("status") or 0), "other")).inc()
        elif event == "exec.denied":
            self.auth_failures.labels("exec_disabled").inc()
        elif event in ("feature.toggle", "feature.reset"):
            self.toggles.labels(str(entry.get("feature")), str(bool(entry.get("new"))).lower()).inc()
        elif event == "exec.run":
            self.exec_runs.labels(str(entry.get("outcome") or "unknown")).inc()

    async def _refresh_state(self) -> None:
        """Gauges read at scrape time: feature states and (cached) index figures."""
        for name in TOGGLEABLE:
            self.feature_enabled.labels(name).set(1 if await self.flags.enabled(name) else 0)
        async with self._lock:
            now = time.monotonic()
            if self._statistics is None or now - self._statistics[0] > STATISTICS_TTL:
                self._statistics = (now, await self.engine.index_statistics())
            stats = self._statistics[1]
        for level, value in (("studies", stats.studies), ("series", stats.series), ("instances", stats.instances)):
            if value is not None:
                self.index.labels(level).set(value)
        if stats.stored_bytes is not None:
            self.stored_bytes.set(stats.stored_bytes)
        depth = self.engine.queue_depth()
        if self.queue_depth is not None and depth is not None:
            self.queue_depth.set(depth)

    async def exposition(self) -> bytes:
        """The Prometheus text format of everything above (all workers' in multiprocess mode)."""
        await self._refresh_state()
        if not self.multiprocess_dir:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return generate_latest(merged)
