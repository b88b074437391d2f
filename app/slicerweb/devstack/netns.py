"""A private network namespace for the processes a test starts (`unshare(CLONE_NEWNET)`, loopback up).

Orthanc 1.10 binds 0.0.0.0 whatever its configuration says. `PrivateNetwork` gives one worker thread
a network namespace of its own (the call affects only the calling thread); every process started
from that thread inherits it, and every socket opened there lives in it. So a test runs Orthanc,
SlicerWeb and the issuer there, talks to them through `run(...)`, and nothing listens on the
machine's network. Needs CAP_SYS_ADMIN (root, as the suite runs on CI); `PrivateNetworkUnavailable`
says why not otherwise.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

CLONE_NEWNET = 0x40000000
T = TypeVar("T")


class PrivateNetworkUnavailable(RuntimeError):
    """This process may not make a network namespace (not root, or a sandbox forbids it)."""


def _unshare_network() -> None:
    # os.unshare arrived in Python 3.12; the project supports 3.11, so call libc directly there.
    if hasattr(os, "unshare"):
        os.unshare(CLONE_NEWNET)
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def _enter() -> None:
    ip = shutil.which("ip")
    if ip is None:
        raise PrivateNetworkUnavailable("`ip` (iproute2) is needed to bring the namespace's loopback up")
    try:
        _unshare_network()
    except OSError as exc:
        raise PrivateNetworkUnavailable(f"cannot create a network namespace: {exc.strerror}") from exc
    subprocess.run([ip, "link", "set", "lo", "up"], check=True)


class PrivateNetwork:
    """One worker thread inside a new network namespace; `run(fn)` calls fn there and returns its result."""

    def __init__(self) -> None:
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="private-network")
        try:
            self._worker.submit(_enter).result()
        except BaseException:
            self._worker.shutdown()
            raise

    def run(self, fn: Callable[..., T], *args: object) -> T:
        return self._worker.submit(fn, *args).result()

    def close(self) -> None:
        """End the worker thread (stop the processes started in the namespace first)."""
        self._worker.shutdown()
