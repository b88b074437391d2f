"""The listening socket keeps the backlog `server.listen()` asked for (1024), not Hypercorn's default
100: behind nginx, 200 clients arriving at once each open an auth subrequest to the app's socket, and
a full backlog makes nginx answer 500 ("auth request unexpected status: 502"). Found by the audit's
load area (109 of 3,544 requests answered 500 through nginx at 200 connections)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) not installed")
def test_unix_socket_backlog_is_1024(live_server: Callable[..., Any], tmp_path: Path) -> None:
    socket_path = tmp_path / "app.sock"
    live_server(args=["--unix-socket", str(socket_path)])
    listing = subprocess.run(["ss", "-lxn"], capture_output=True, text=True, check=True).stdout
    line = next(row for row in listing.splitlines() if str(socket_path) in row)
    backlog = int(line.split()[3])  # Netid State Recv-Q Send-Q: Send-Q of a listener is its backlog
    assert backlog == 1024, line
