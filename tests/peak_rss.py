"""Peak resident memory of a child process, read from /proc (Linux), for tests of hostile input.

`PeakRss(pid)` resets the kernel's high-water mark (`clear_refs` 5) and later reports how far the
peak rose above the resident size measured at the reset, so each hostile request is measured alone.
"""

from __future__ import annotations

from pathlib import Path


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


class PeakRss:
    """Growth of a process's peak RSS (VmHWM) over its RSS at `reset()`, in bytes."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.baseline = 0

    def reset(self) -> None:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
        self.baseline = _status_kib(self.pid, "VmRSS") * 1024

    def growth(self) -> int:
        return _status_kib(self.pid, "VmHWM") * 1024 - self.baseline
