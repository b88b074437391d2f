"""The storage readiness check of the headless engine, cheap enough for every probe: it creates,
fsyncs and removes a small file where ingest stages and stores objects (a read-only remount fails it).
The index's own check is `dicomdb/database.py` (`probe`).

Probes run on threads of their own (`probe_off_loop`), never in the loop's default executor: there they
would queue behind request work (index reads, a STOW load's fsyncs), a proxy's health check (Caddy's
`/readyz`, 5 s timeout) would time out, and a busy but healthy instance, maybe the last one, would be
taken out of rotation.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..health_api import OK

PROBE_THREADS = 2  # the index and the storage probe of one /readyz run side by side
_probes = ThreadPoolExecutor(PROBE_THREADS, thread_name_prefix="readiness-probe")


async def probe_off_loop(probe: Callable[..., str], *args: object) -> str:
    """Run a blocking probe on the probes' own threads."""
    return await asyncio.get_running_loop().run_in_executor(_probes, probe, *args)


def storage_verdict(*directories: Path) -> str:
    """"ok", or why a file cannot be written in one of `directories` (staging area and object store)."""
    for directory in directories:
        verdict = _writable(directory)
        if verdict != OK:
            return verdict
    return OK


def _writable(directory: Path) -> str:
    probe = directory / f".ready-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"ok")
            os.fsync(fd)
        finally:
            os.close(fd)
        probe.unlink()
    except OSError as exc:
        return f"storage not writable: {exc.strerror or exc} ({directory.name}/)"
    return OK
