"""Bounded measurement loops: latency percentiles at concurrency 1, throughput at concurrency N.

Every loop stops after a number of repetitions or a time budget, whichever comes first, so a slow
server cannot make the benchmark run away. A failed request (wrong status or a sanity check on the
body) ends the measurement with an error that the table prints instead of figures.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

# one call = one request (or one STOW batch); returns the units it moved (1 request, n bytes, n instances)
Call = Callable[[httpx.Client], float]


class CheckFailed(Exception):
    """A response that is not what the scenario expects (status or content)."""


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    units: float = 0.0
    elapsed: float = 0.0
    unit: str = "req/s"
    scale: float = 1.0
    error: str = ""

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1]

    @property
    def throughput(self) -> float:
        return self.units / self.scale / self.elapsed if self.elapsed > 0 else float("nan")


def new_client() -> httpx.Client:
    return httpx.Client(timeout=300, trust_env=False)


def latency(call: Call, *, reps: int, budget: float, warmup: int = 1, unit: str = "req/s",
            scale: float = 1.0) -> Result:
    """Sequential calls on one keep-alive connection; throughput = units moved / time spent."""
    result = Result(unit=unit, scale=scale)
    with new_client() as client:
        try:
            for _ in range(warmup):
                call(client)
            deadline = time.perf_counter() + budget
            while len(result.latencies) < reps and (not result.latencies or time.perf_counter() < deadline):
                started = time.perf_counter()
                result.units += call(client)
                took = time.perf_counter() - started
                result.latencies.append(took)
                result.elapsed += took
        except (CheckFailed, httpx.HTTPError) as exc:
            result.error = str(exc)[:80]
    return result


def throughput(call: Call, *, concurrency: int, total: int, budget: float, unit: str = "req/s",
               scale: float = 1.0) -> Result:
    """`concurrency` threads, each on its own connection, until `total` calls or the budget is spent."""
    result = Result(unit=unit, scale=scale)
    lock = threading.Lock()
    remaining = [total]
    clock = [0.0, 0.0]  # start, deadline: set by the barrier before any worker is released
    errors: list[str] = []

    def start_clock() -> None:
        clock[0] = time.perf_counter()
        clock[1] = clock[0] + budget

    ready = threading.Barrier(concurrency + 1, action=start_clock)

    def worker() -> None:
        with new_client() as client:
            try:
                call(client)  # connect and warm up before the clock starts
            except (CheckFailed, httpx.HTTPError) as exc:
                errors.append(str(exc)[:80])
                ready.abort()
                return
            try:
                ready.wait()
            except threading.BrokenBarrierError:
                return
            try:
                while time.perf_counter() < clock[1]:
                    with lock:
                        if remaining[0] <= 0:
                            return
                        remaining[0] -= 1
                    started = time.perf_counter()
                    units = call(client)
                    took = time.perf_counter() - started
                    with lock:
                        result.units += units
                        result.latencies.append(took)
            except (CheckFailed, httpx.HTTPError) as exc:
                errors.append(str(exc)[:80])

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    try:
        ready.wait()
    except threading.BrokenBarrierError:
        start_clock()
    for thread in threads:
        thread.join()
    result.elapsed = time.perf_counter() - clock[0]
    result.error = errors[0] if errors else ""
    return result
