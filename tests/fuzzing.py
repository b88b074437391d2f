"""Hypothesis profiles and the per-example memory bound shared by the parser fuzzers (`*_fuzz.py`).

Profiles (pick with `SLICERWEB_FUZZ=<name>`; the default suite uses `quick`):
  quick  few examples, derandomized (same inputs every run), no example database: fast and stable.
  audit  many examples, random seeds: what `make audit` runs.
The deadline (60 s) is a hang detector, not a speed test: the audit run saw a 12.8 s policy example
on a loaded 2-core machine.

`bounded_memory(limit)` measures the peak Python/numpy allocation of one example with tracemalloc
(numpy reports its buffers to it), so a parser that allocates by what the input *claims* is caught
on a small input.
"""

from __future__ import annotations

import contextlib
import os
import tracemalloc
from collections.abc import Iterator
from datetime import timedelta

from hypothesis import HealthCheck, settings

PROFILE_ENV = "SLICERWEB_FUZZ"
settings.register_profile("quick", max_examples=60, derandomize=True, database=None, deadline=timedelta(seconds=60),
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], print_blob=True)
settings.register_profile("audit", max_examples=3000, derandomize=False, database=None,
                          deadline=timedelta(seconds=60), print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get(PROFILE_ENV, "quick"))

MiB = 1 << 20


@contextlib.contextmanager
def bounded_memory(limit: int) -> Iterator[None]:
    """Fail if the block's peak traced allocation exceeds `limit` bytes."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        yield
    finally:
        _, peak = tracemalloc.get_traced_memory()
        if started:
            tracemalloc.stop()
    assert peak <= limit, f"peak allocation {peak / MiB:.1f} MiB exceeds the bound {limit / MiB:.1f} MiB"
