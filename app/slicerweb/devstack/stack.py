"""Start app + proxy (+ optionally the local issuer) as foreground child processes.

Used by `deploy/run-stack` and by the proxy tests: the app listens on a Unix socket in the stack's
private directory, the proxy (real nginx or real Caddy, configs rendered from `proxy/`) listens on
free high loopback ports with certificates from `certs.make_certs`. Nothing needs root; nothing
daemonizes; `Stack.stop()` ends exactly the processes it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..instance import host_name
from ..issuer.users import write_users_file
from .certs import CertPaths, make_certs
from .postgres import PostgresCluster
from .prerequisites import proxy_binary
from .proxyconf import ProxySettings, render

START_TIMEOUT = 30.0


class StackError(RuntimeError):
    """A component did not start (the message carries its log)."""


@dataclass
class Stack:
    proxy: str
    url: str                    # https://name:port
    http_url: str               # http://name:port (redirects)
    https_port: int
    http_port: int
    server_name: str
    directory: Path
    app_socket: Path
    data_dir: Path
    certs: CertPaths
    issuer_url: str = ""
    processes: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    peer_sockets: tuple[Path, ...] = ()  # instances beyond the designated one (`app`): `app-2`, `app-3`, ...
    postgres: PostgresCluster | None = None  # the stack's own PostgreSQL (`index="postgresql"`)

    @property
    def audit_path(self) -> Path:
        """The instances' audit log (all on this host): one file per host once the index is PostgreSQL."""
        if self.postgres is not None:
            return self.data_dir / "audit" / f"{host_name()}.jsonl"
        return self.data_dir / "audit.jsonl"

    def log(self, name: str) -> str:
        path = self.directory / "run" / name
        return path.read_text() if path.exists() else ""

    @property
    def app_names(self) -> list[str]:
        """The app instances' process names: `app` (designated: serves /slicer), `app-2`, ..."""
        return [name for name in self.processes if name == "app" or name.startswith("app-")]

    def stop(self) -> None:
        """Stop the proxy, then the apps, then the issuer and the database (only what this stack started)."""
        for name in ("proxy", *self.app_names, "issuer"):
            process = self.processes.get(name)
            if process is None:
                continue
            if process.poll() is None:
                process.send_signal(signal.SIGQUIT if name == "proxy" and self.proxy == "nginx" else signal.SIGTERM)
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
            if process.stdout is not None:
                process.stdout.close()
        if self.postgres is not None:
            self.postgres.destroy()


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the proxy binds it itself)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    app_dir = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([app_dir, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def _wait_line(process: subprocess.Popen[str], marker: str, log: Path, what: str) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if marker in line:
            return line.strip().rsplit(marker, 1)[1]
        if not line and process.poll() is not None:
            break
    process.kill()
    raise StackError(f"{what} did not start:\n{log.read_text() if log.exists() else ''}")


def _wait_port(process: subprocess.Popen[str], host: str, port: int, log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    process.kill()
    raise StackError(f"{what} did not listen on {host}:{port}:\n{log.read_text() if log.exists() else ''}")


def start_issuer(directory: Path, audience: str, clients: list[str], *, redirect_uris: list[str] | None = None,
                 extra_args: list[str] | None = None, users: Mapping[str, tuple[str, str]] | None = None,
                 post_logout_redirect_uris: list[str] | None = None, cors_origins: list[str] | None = None,
                 certfile: Path | None = None, keyfile: Path | None = None) -> tuple[subprocess.Popen[str], str]:
    """`slicerweb issuer` on a free loopback port; returns (process, issuer URL).

    `users` (name -> (password, space-separated scopes)) become `directory/users.json` (mode 0600,
    scrypt hashes) for the login page; `certfile`/`keyfile` make it serve HTTPS (an https page such
    as OHIF behind the proxy may only call an https issuer).
    """
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "issuer.log"
    command = [sys.executable, "-m", "slicerweb", "issuer", "--keys", str(directory / "issuer-keys.json"),
               "--audience", audience]
    for client in clients:
        command += ["--client", client]
    for uri in redirect_uris or []:
        command += ["--redirect-uri", uri]
    for uri in post_logout_redirect_uris or []:
        command += ["--post-logout-redirect-uri", uri]
    for origin in cors_origins or []:
        command += ["--cors-origin", origin]
    if users is not None:
        users_file = write_users_file(directory / "users.json",
                                      [(name, password, scopes) for name, (password, scopes) in users.items()])
        command += ["--users", str(users_file)]
    if certfile is not None:
        command += ["--certfile", str(certfile), "--keyfile", str(keyfile)]
    command += extra_args or []
    with log.open("w") as stderr:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True, env=child_env())
    return process, _wait_line(process, "serving on ", log, "issuer")


def start_stack(proxy: str, directory: Path, policy_toml: str, *, server_name: str = "localhost",
                tls_profile: str = "intermediate", upload_max_body: str = "4g",
                app_args: list[str] | None = None, issuer: tuple[subprocess.Popen[str], str] | None = None,
                https_port: int = 0, http_port: int = 0, api_rate: str = "200r/s",
                csp_connect_extra: str = "", template_dir: Path | None = None, instances: int = 1,
                index: str = "sqlite", workers: int = 1) -> Stack:
    """Start the app on a Unix socket and `proxy` in front of it; returns the running Stack.

    A missing proxy binary raises `prerequisites.MissingPrerequisite` before anything starts.
    `template_dir` replaces `proxy/<proxy>` as the template source (bench/ohif fronts Orthanc with a
    variant of the same nginx templates). `instances` app processes share the data directory and the
    index (`index="postgresql"`: a PostgreSQL cluster of the stack's own, started first); the proxy
    balances over all of them and sends /slicer to the first. Each instance runs `workers` worker processes
    on its socket (`serve --workers`; 1: a single process, no supervisor).
    """
    binary = proxy_binary(proxy)
    directory.mkdir(parents=True, exist_ok=True)
    run_dir = directory / "run"
    run_dir.mkdir(exist_ok=True)
    certs = make_certs(directory / "certs", [server_name, "127.0.0.1", "::1"])
    policy = directory / "policy.toml"
    policy.write_text(policy_toml)
    socket_path = run_dir / "app.sock"
    data_dir = directory / "data"
    peers = tuple(run_dir / f"app-{n}.sock" for n in range(2, instances + 1))
    stack = Stack(proxy, "", "", 0, 0, server_name, directory, socket_path, data_dir, certs, peer_sockets=peers)
    if issuer:
        stack.processes["issuer"], stack.issuer_url = issuer
    try:
        if index == "postgresql":
            stack.postgres = PostgresCluster().start()
            policy.write_text(f'{policy_toml}\n[index]\nurl = "{stack.postgres.url}"\n')
        # One at a time: the first creates the index schema and imports demo data, the others find them.
        for name, path in (("app", socket_path), *((f"app-{n}", peer) for n, peer in enumerate(peers, 2))):
            app_log = run_dir / f"{name}.log"
            with app_log.open("w") as stderr:  # the child keeps its own copy of the descriptor
                app = subprocess.Popen(
                    [sys.executable, "-m", "slicerweb", "serve", "--policy", str(policy), "--unix-socket",
                     str(path), "--data-dir", str(data_dir), "--workers", str(workers), *(app_args or [])],
                    stdout=subprocess.PIPE, stderr=stderr, text=True, env=child_env(), cwd=directory)
            stack.processes[name] = app
            _wait_line(app, "serving on ", app_log, name)
        stack.https_port = https_port or free_port()
        stack.http_port = http_port or free_port()
        settings = ProxySettings(server_name=server_name, https_port=stack.https_port, http_port=stack.http_port,
                                 cert=certs.chain, key=certs.key, app_socket=socket_path, peer_sockets=peers,
                                 tls_profile=tls_profile,
                                 upload_max_body=upload_max_body, api_rate=api_rate,
                                 csp_connect_extra=csp_connect_extra,
                                 # As root, nginx would drop its workers to www-data, who cannot reach the
                                 # stack's private socket directory; as anyone else nginx cannot switch.
                                 nginx_user="root" if os.geteuid() == 0 else "")
        config = render(proxy, settings, directory / proxy, run_dir, template_dir)
        log = run_dir / f"{proxy}.log"
        if proxy == "nginx":
            command = [binary, "-p", str(run_dir), "-c", str(config), "-e", str(run_dir / "nginx-error.log"),
                       "-g", "daemon off;"]
            env = child_env()
        else:
            command = [binary, "run", "--config", str(config), "--adapter", "caddyfile"]
            env = child_env({"XDG_DATA_HOME": str(run_dir), "XDG_CONFIG_HOME": str(run_dir), "HOME": str(run_dir)})
        with log.open("w") as output:
            stack.processes["proxy"] = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                                        text=True, env=env, cwd=run_dir)
        _wait_port(stack.processes["proxy"], "127.0.0.1", stack.https_port, log, proxy)
        _wait_port(stack.processes["proxy"], "127.0.0.1", stack.http_port, log, proxy)
    except BaseException:
        stack.stop()
        raise
    suffix = "" if stack.https_port == 443 else f":{stack.https_port}"
    stack.url = f"https://{server_name}{suffix}"
    stack.http_url = f"http://{server_name}:{stack.http_port}"
    return stack
