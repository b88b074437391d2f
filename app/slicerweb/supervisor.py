"""`slicerweb serve --workers N`: one process binds the socket, N worker processes serve on it.

The supervisor binds the listening socket once (TCP port search or Unix socket, as a single server does),
then runs `python -m slicerweb serve <the same arguments>` N times with that descriptor inherited (`pass_fds`)
and hidden `--worker-*` options (worker_role.py). Re-exec rather than fork or multiprocessing: each worker is
a fresh interpreter (fork would copy the parent's threads, SQLite connections and event loop half-alive),
reaches Hypercorn by exactly the code path of a single server, and shows its role in `ps`; multiprocessing's
spawn also starts fresh interpreters but adds its own tracker process and pickles a target instead of
reading the arguments every worker already has.

Each worker reports on a pipe of its own, one line per event: `ready`, `alive <status>` (sent from its event
loop every ping interval: a stuck loop falls silent) and `shutdown` (DELETE /slicer/system stops the whole
server). The supervisor:
- starts worker 0 first (it holds the scene, does the index's start-up work and seeds demo data), then the
  others, and prints the one "SlicerWeb ... serving on URL" line and says READY=1 once all are ready;
- gives up if a worker exits before that (with the worker's status: 2 for a damaged index, whose one line the
  worker printed), or if one fails to become ready 5 times in a row;
- restarts a worker that dies later after a backoff (0.5 s, doubling to 10 s), logging one line with its
  exit status;
- forwards SIGTERM and SIGINT as SIGTERM (each worker finishes open requests within GRACEFUL_TIMEOUT, what
  remains after a margin is killed) and SIGHUP (each worker reopens its log files);
- speaks for them to systemd (the unit's NotifyAccess=main): READY=1, STATUS=, STOPPING=1, and WATCHDOG=1
  only while every running worker has reported alive within the watchdog interval.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .sd_notify import notify, watchdog_interval
from .server import GRACEFUL_TIMEOUT, Listener
from .version import __version__
from .worker_role import WorkerRole

log = logging.getLogger("slicerweb.supervisor")

MAX_START_FAILURES = 5  # a worker that cannot become ready this many times in a row: give up
FIRST_BACKOFF, MAX_BACKOFF = 0.5, 10.0
KILL_MARGIN = 3.0  # seconds after GRACEFUL_TIMEOUT before what remains is killed
SYSTEMD_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")  # the supervisor alone speaks to systemd


@dataclass
class Worker:
    """One worker slot and the process currently filling it."""

    index: int
    process: subprocess.Popen[bytes] | None = None
    pipe: int = -1  # read end of the worker's report pipe
    pidfd: int = -1  # readable when the process exits
    pending: bytes = b""
    ready: bool = False
    last_alive: float = 0.0
    status: str = ""
    failures: int = 0  # exits before becoming ready, in a row
    restart_at: float | None = None

    @property
    def running(self) -> bool:
        return self.process is not None


def describe_exit(code: int) -> str:
    """`status 2`, or `killed by SIGKILL`, for the log line."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"status {code}"


@dataclass
class Supervisor:
    """Runs `count` workers on `listener` (see the module docstring); `run()` returns the exit status."""

    command: list[str]  # `python -m slicerweb serve ...` as given; each worker gets its --worker-* options added
    count: int
    listener: Listener
    workers: list[Worker] = field(default_factory=list)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="slicerweb-workers-")))
    stopping_since: float | None = None
    exit_code: int = 0
    all_ready_once: bool = False
    last_ping: float = 0.0

    def __post_init__(self) -> None:
        self.directory.chmod(0o700)  # the scene socket inside is the scene's only door for siblings
        (self.directory / "metrics").mkdir()
        self.selector = selectors.DefaultSelector()
        self.watchdog = watchdog_interval()
        self.ping = min(1.0, self.watchdog / 2) if self.watchdog else 1.0
        self.env = {k: v for k, v in os.environ.items() if k not in SYSTEMD_VARIABLES}
        # Every worker's /metrics answers for all of them (prometheus_client's multiprocess mode, metrics.py):
        # a scrape through the shared socket lands on any one worker.
        self.env["PROMETHEUS_MULTIPROC_DIR"] = str(self.directory / "metrics")
        self.workers = [Worker(index) for index in range(self.count)]

    # --- lifecycle -----------------------------------------------------------------------------------------
    def run(self) -> int:
        wakeup_read, wakeup_write = os.pipe()
        os.set_blocking(wakeup_read, False)
        os.set_blocking(wakeup_write, False)
        previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        old_wakeup = signal.set_wakeup_fd(wakeup_write)
        self.selector.register(wakeup_read, selectors.EVENT_READ, None)
        try:
            self._spawn(self.workers[0])  # the scene's holder first; the others once it is ready
            while any(worker.running for worker in self.workers) or self.stopping_since is None:
                self._step(wakeup_read)
        finally:
            for worker in self.workers:  # only after a failure of the supervisor itself: leave no orphan
                if worker.process is not None and worker.process.poll() is None:
                    worker.process.kill()
                    worker.process.wait()
            signal.set_wakeup_fd(old_wakeup)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.selector.close()
            os.close(wakeup_read)
            os.close(wakeup_write)
            self.listener.sock.close()
            shutil.rmtree(self.directory, ignore_errors=True)
        return self.exit_code

    def _step(self, wakeup: int) -> None:
        # Signals first: a worker that Ctrl-C (the whole process group) stopped is then no crash to restart.
        for key, _ in sorted(self.selector.select(self._timeout()), key=lambda event: event[0].data is not None):
            if key.data is None:
                with contextlib.suppress(BlockingIOError):
                    for number in os.read(wakeup, 64):
                        self._on_signal(number)
            else:
                worker, kind = key.data
                # Only descriptors still this worker's: its exit, earlier in this batch, may have closed them.
                if kind == "pipe" and key.fd == worker.pipe:
                    self._read_reports(worker)
                elif kind == "exit" and key.fd == worker.pidfd:
                    self._reap(worker)
        for worker in self.workers:
            if worker.process is not None and worker.pidfd < 0 and worker.process.poll() is not None:
                self._reap(worker)
        now = time.monotonic()
        for worker in self.workers:
            if worker.restart_at is not None and now >= worker.restart_at and self.stopping_since is None:
                self._spawn(worker)
        if self.stopping_since is not None and now - self.stopping_since > GRACEFUL_TIMEOUT + KILL_MARGIN:
            for worker in self.workers:
                if worker.process is not None and worker.process.poll() is None:
                    worker.process.kill()
        self._watchdog(now)

    def _timeout(self) -> float:
        timers = [w.restart_at - time.monotonic() for w in self.workers if w.restart_at is not None]
        if self.watchdog:
            timers.append(self.watchdog / 2)
        if any(w.process is not None and w.pidfd < 0 for w in self.workers):
            timers.append(0.2)
        if self.stopping_since is not None:
            timers.append(self.stopping_since + GRACEFUL_TIMEOUT + KILL_MARGIN - time.monotonic())
        return max(0.0, min(timers, default=1.0))

    def _on_signal(self, number: int) -> None:
        if number == signal.SIGHUP:
            self._signal_all(signal.SIGHUP)  # each worker reopens its own log files
        elif number in (signal.SIGTERM, signal.SIGINT):
            self.stop(0)

    def stop(self, code: int) -> None:
        """Stop every worker gracefully; `run()` returns `code` once all have exited."""
        if self.stopping_since is not None:
            return
        self.exit_code = code
        self.stopping_since = time.monotonic()
        notify("STOPPING=1")
        for worker in self.workers:
            worker.restart_at = None
        self._signal_all(signal.SIGTERM)

    def _signal_all(self, sig: signal.Signals) -> None:
        for worker in self.workers:
            if worker.process is not None and worker.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(sig)

    # --- workers -------------------------------------------------------------------------------------------
    def _spawn(self, worker: Worker) -> None:
        report_read, report_write = os.pipe()
        listen_fd = self.listener.sock.fileno()
        role = WorkerRole(worker.index, listen_fd, report_write, self.directory, self.ping)
        try:
            worker.process = subprocess.Popen([*self.command, *role.arguments()], pass_fds=(listen_fd, report_write),
                                              env=self.env)
        finally:
            os.close(report_write)  # the worker holds the only write end: EOF when it is gone
        os.set_blocking(report_read, False)
        worker.pipe, worker.pidfd = report_read, -1
        worker.pending, worker.ready, worker.restart_at, worker.status = b"", False, None, "starting"
        self.selector.register(worker.pipe, selectors.EVENT_READ, (worker, "pipe"))
        with contextlib.suppress(OSError):  # no pidfd (old kernel, a seccomp filter): _step polls instead
            worker.pidfd = os.pidfd_open(worker.process.pid)
            self.selector.register(worker.pidfd, selectors.EVENT_READ, (worker, "exit"))

    def _read_reports(self, worker: Worker) -> None:
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(worker.pipe, 65536):
                worker.pending += chunk
        *lines, worker.pending = worker.pending.split(b"\n")
        for line in lines:
            self._on_report(worker, line.decode("utf-8", "replace"))

    def _on_report(self, worker: Worker, line: str) -> None:
        kind, _, text = line.partition(" ")
        if kind == "ready":
            worker.ready, worker.failures, worker.last_alive, worker.status = True, 0, time.monotonic(), "ready"
            self._on_ready(worker)
        elif kind == "alive":
            worker.last_alive, worker.status = time.monotonic(), text or "ready"
        elif kind == "shutdown":
            self.stop(0)

    def _on_ready(self, worker: Worker) -> None:
        if self.all_ready_once or self.stopping_since is not None:
            log.info("worker %d (pid %d) is ready", worker.index, worker.process.pid if worker.process else 0)
            return
        if worker.index == 0:
            for sibling in self.workers[1:]:
                self._spawn(sibling)
        if all(w.ready for w in self.workers):
            self.all_ready_once = True
            print(f"SlicerWeb {__version__} serving on {self.listener.url}", flush=True)
            notify("READY=1", f"STATUS=serving on {self.listener.url} with {self.count} workers")

    def _reap(self, worker: Worker) -> None:
        process = worker.process
        assert process is not None
        code = process.wait()
        self._read_reports(worker)  # its last words (a shutdown request) come before its exit
        for fd in (worker.pipe, worker.pidfd):
            if fd >= 0:
                self.selector.unregister(fd)
                os.close(fd)
        was_ready, worker.process, worker.ready, worker.pipe, worker.pidfd = worker.ready, None, False, -1, -1
        if self.stopping_since is not None:
            return
        if not self.all_ready_once:
            if code != 2:  # 2: the worker printed its one line (bad index, cannot listen...)
                print(f"slicerweb: worker {worker.index} {describe_exit(code)} while starting", file=sys.stderr)
            self.stop(code if code > 0 else 1)
            return
        worker.failures = 0 if was_ready else worker.failures + 1
        if worker.failures >= MAX_START_FAILURES:
            print(f"slicerweb: worker {worker.index} {describe_exit(code)}, and could not start "
                  f"{MAX_START_FAILURES} times in a row; stopping", file=sys.stderr)
            self.stop(code if code > 0 else 1)
            return
        delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** max(0, worker.failures - 1))
        worker.restart_at = time.monotonic() + delay
        worker.status = "restarting"
        log.warning("worker %d (pid %d) %s; restarting it in %.1f s", worker.index, process.pid,
                    describe_exit(code), delay)

    def _watchdog(self, now: float) -> None:
        """WATCHDOG=1 while every running, ready worker's loop reported alive recently (and STATUS= for all)."""
        if not self.watchdog or not self.all_ready_once or self.stopping_since is not None:
            return
        if now - self.last_ping < self.watchdog:
            return
        window = max(self.watchdog, 3 * self.ping)
        stuck = [w for w in self.workers if w.running and w.ready and now - w.last_alive > window]
        statuses = sorted({w.status for w in self.workers})
        status = (f"{self.count} workers " + statuses[0] if len(statuses) == 1
                  else "; ".join(f"worker {w.index}: {w.status}" for w in self.workers))
        if stuck:
            notify("STATUS=" + "; ".join(f"worker {w.index} not answering" for w in stuck))
            return
        self.last_ping = now
        notify("WATCHDOG=1", f"STATUS={status}")
