"""The systems under audit: a local OIDC issuer, the app on a free loopback port, and the app behind
real nginx and real Caddy (TLS, certificates from a local CA). Started once, stopped in reverse."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.oidc import RunningIssuer, auth_policy, start_issuer

from .servers import AppProcess, Stack, start_app, start_stack
from .wire import Target

ALL_SCOPES = "slicerweb.static dicomweb.read dicomweb.write slicer.read slicer.write slicerweb.admin"


AUDIT_MAX_VOLUME_BYTES = 32 << 20  # limits.max_volume_bytes of the audited app: hostile-request bounds follow it


def audit_policy(issuer: RunningIssuer, *, failure_limit: int = 1000) -> str:
    """JWT auth against `issuer`, STOW on, compressed volume uploads on (their decoder is audited), volumes
    limited to `AUDIT_MAX_VOLUME_BYTES` (so the documented per-request memory bound is a small number)."""
    policy = auth_policy(issuer, extra='trusted_proxies = ["127.0.0.1"]',
                         allowed_hosts='["localhost", "127.0.0.1"]')
    policy = policy.replace("failure_limit = 1000", f"failure_limit = {failure_limit}")
    return policy + f"\n[limits]\nvolume_upload_compressed = true\nmax_volume_bytes = {AUDIT_MAX_VOLUME_BYTES}\n"


@dataclass
class Environment:
    directory: Path
    issuer: RunningIssuer
    app: AppProcess
    stacks: dict[str, Stack] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def token(self, scope: str = ALL_SCOPES, subject: str = "auditor") -> str:
        return self.issuer.mint(scope, subject=subject, lifetime=3600)

    def targets(self) -> list[Target]:
        host, _, port = self.app.url.removeprefix("http://").rpartition(":")
        found = [Target("app", self.app.url, host, int(port), "127.0.0.1", pid=self.app.pid)]
        for name, stack in self.stacks.items():
            found.append(Target(name, stack.url, "127.0.0.1", stack.https_port, stack.server_name,
                                ca_file=stack.certs.ca_cert, pid=stack.processes["app"].pid))
        return found

    def front(self, name: str) -> Target | None:
        return next((t for t in self.targets() if t.name == name), None)


@contextlib.contextmanager
def environment(directory: Path) -> Iterator[Environment]:
    """Issuer + app + whichever of nginx and Caddy are installed (a missing one is noted, not fatal)."""
    directory = directory.resolve()
    issuer = start_issuer(directory / "issuer")
    app = None
    env = None
    try:
        app = start_app(directory / "app", audit_policy(issuer, failure_limit=20))
        env = Environment(directory, issuer, app)
        for proxy in ("nginx", "caddy"):
            if shutil.which(proxy) is None:
                env.missing.append(f"{proxy} is not installed (deploy/install-system-deps installs it)")
                continue
            env.stacks[proxy] = start_stack(proxy, directory / proxy, audit_policy(issuer))
        yield env
    finally:
        if env is not None:
            for stack in env.stacks.values():
                stack.stop()
        if app is not None:
            app.stop()
        issuer.stop()
