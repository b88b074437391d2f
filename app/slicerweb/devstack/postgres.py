"""A throw-away PostgreSQL cluster for the demo stack, tests and benchmarks (Debian's `postgresql` 15).

`initdb` and `pg_ctl` run as an unprivileged user: the caller when it is not root, else `nobody`
(PostgreSQL refuses to run as root). The cluster listens on a Unix socket only, in a short directory
of its own, so nothing is reachable from the network and an Orthanc in a private network namespace
can still connect through the file system. Everything lives in one short directory under /tmp (socket
paths are limited to ~100 bytes, and the cluster user must be able to reach it: a test's or stack's
own directory may be private to root). Authentication is
`trust` on that socket: the socket directory's permissions (0700 but for the cluster user and root)
are the boundary, which is right for a cluster that lives as long as one stack or test run.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .prerequisites import MissingPrerequisite

BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/local/bin", "/usr/bin")
DATABASE = "slicerweb"


def pg_binary(name: str) -> str:
    """Absolute path of a PostgreSQL server program, or MissingPrerequisite naming the Debian package."""
    for directory in BIN_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise MissingPrerequisite(f"{name} not found: install PostgreSQL with `apt-get install postgresql` "
                              "(or run deploy/install-system-deps)")


@dataclass
class PostgresCluster:
    """One cluster in `directory` (made under /tmp when not given): `data/`, `socket/`, `postgres.log`."""

    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="slicerweb-pg-", dir="/tmp")))
    port: int = 5432  # only names the socket file (.s.PGSQL.<port>); nothing listens on TCP
    durable: bool = True  # False (tests only): no fsync, like a RAM disk; a crash may lose the cluster
    user: str = field(init=False)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        self.user = pwd.getpwuid(os.getuid()).pw_name if os.getuid() != 0 else "nobody"

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        return self.directory / "socket"

    @property
    def url(self) -> str:
        """The libpq URL of the cluster's database (user = the cluster's superuser)."""
        return f"postgresql://{self.user}@/{DATABASE}?host={self.socket_dir}&port={self.port}"

    def _run(self, *command: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", self.user, "--"] if os.getuid() == 0 else []
        done = subprocess.run([*prefix, *command], check=False, capture_output=True, text=True, cwd="/", timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed ({done.returncode}): "
                               f"{(done.stderr or done.stdout).strip()[-400:]}")
        return done

    def start(self) -> PostgresCluster:
        """initdb (once), start, and create the database; returns self."""
        initdb, pg_ctl = pg_binary("initdb"), pg_binary("pg_ctl")
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        for path in (self.directory, self.socket_dir):
            path.chmod(0o700)
            if os.getuid() == 0:
                shutil.chown(path, self.user)
        if not (self.data / "PG_VERSION").exists():
            self._run(initdb, "-D", str(self.data), "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8",
                      "-U", self.user)
        options = (f"-c listen_addresses='' -c unix_socket_directories='{self.socket_dir}' -p {self.port} "
                   "-c max_connections=200")
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(pg_ctl, "-D", str(self.data), "-l", str(self.directory / "postgres.log"), "-o", options,
                  "-w", "-t", "60", "start")
        self._ensure_database()
        return self

    def _ensure_database(self) -> None:
        self.create_database(DATABASE)

    def create_database(self, name: str) -> None:
        """Create database `name` (a plain identifier) unless it exists."""
        psql = shutil.which("psql") or pg_binary("psql")
        base = [psql, "-h", str(self.socket_dir), "-p", str(self.port), "-U", self.user, "-d", "postgres",
                "-tAc"]
        exists = self._run(*base, f"SELECT 1 FROM pg_database WHERE datname = '{name}'").stdout.strip()
        if exists != "1":
            self._run(*base, f"CREATE DATABASE {name}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`immediate` simulates a crash); the data stays for `start()`."""
        if (self.data / "postmaster.pid").exists():
            self._run(pg_binary("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        """Stop and remove everything the cluster wrote."""
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Block until the server accepts connections again (after a restart)."""
        isready = pg_binary("pg_isready")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = subprocess.run([isready, "-h", str(self.socket_dir), "-p", str(self.port)],
                                  capture_output=True, check=False)
            if done.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"PostgreSQL in {self.directory} did not come back within {timeout:.0f} s")
