"""Re-run a benchmark script inside a private network namespace (`unshare -n`, loopback up).

Orthanc 1.10 binds 0.0.0.0 whatever its configuration says; inside a fresh namespace that address
is reachable from nothing but the namespace's own loopback, so the peer never listens on the
machine's network. Everything the script starts (servers, proxies, the browser) runs inside too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

NETNS_MARK = "SLICERWEB_BENCH_NETNS"


def inside() -> bool:
    return os.environ.get(NETNS_MARK) == "1"


def enter_netns(script: Path, argv: list[str], prog: str) -> None:
    """Re-run `script argv` inside `unshare -n` with loopback up; returns only if already inside."""
    if inside():
        return
    unshare = shutil.which("unshare")
    if unshare is None:
        sys.exit(f"{prog}: unshare (util-linux) is needed; or pass --no-netns")
    flags = "-n" if os.geteuid() == 0 else "-rn"
    env = dict(os.environ, **{NETNS_MARK: "1"})
    command = [unshare, flags, "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"',
               sys.executable, str(script.resolve()), *argv]
    sys.exit(subprocess.call(command, env=env))
