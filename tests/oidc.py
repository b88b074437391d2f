"""Shared test helpers: a real `slicerweb issuer` subprocess, token minting, bad-token catalogue.

`start_issuer(dir)` runs the local OIDC issuer on a free loopback port with a private JWKS file the
tests can read, so they mint exactly the tokens the issuer would (and deliberately broken ones).
`bad_tokens(issuer)` is the catalogue every auth and proxy suite replays: each must be refused.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from slicerweb.issuer.signing import SigningKeys, hmac_with_public_key, unsigned_token
from tests.support import settled_audit, subprocess_env

AUDIENCE = "https://slicer.test.lan"
CLIENT, SECRET = "tests", "tests-secret"
ALL_SCOPES = ("slicerweb.static dicomweb.read dicomweb.write slicer.read slicer.write slicer.exec "
              "slicerweb.admin")


@dataclass
class RunningIssuer:
    url: str
    keys: SigningKeys
    process: subprocess.Popen[str]
    audience: str = AUDIENCE

    def mint(self, scope: str = "", *, subject: str = "alice", lifetime: float = 300, now: float | None = None,
             extra: dict[str, Any] | None = None, header: dict[str, Any] | None = None,
             issuer: str | None = None, audience: str | list[str] | None = None) -> str:
        return self.keys.access_token(issuer=issuer or self.url, audience=audience or self.audience,
                                      subject=subject, scope=scope, client_id=CLIENT, lifetime=lifetime,
                                      now=now, extra=extra, header=header)

    def client_credentials(self, scope: str, client: str = CLIENT, secret: str = SECRET) -> str:
        """A token from the issuer's own token endpoint (the real OAuth flow)."""
        response = httpx.post(f"{self.url}/token", data={"grant_type": "client_credentials", "scope": scope},
                              auth=(client, secret), timeout=10)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_issuer(directory: Path, *, extra_args: list[str] | None = None, timeout: float = 30) -> RunningIssuer:
    """Start `slicerweb issuer` on a free port; returns once it serves."""
    directory.mkdir(parents=True, exist_ok=True)
    keys_file = directory / "issuer-keys.json"
    command = [sys.executable, "-m", "slicerweb", "issuer", "--keys", str(keys_file), "--audience", AUDIENCE,
               "--client", f"{CLIENT}:{SECRET}:{ALL_SCOPES.replace(' ', ',')}",
               "--client", "browser::slicer.read,dicomweb.read", "--redirect-uri", "http://127.0.0.1/cb",
               *(extra_args or [])]
    with (directory / "issuer.log").open("w") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True, env=subprocess_env())
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "serving on " in line:
            url = line.strip().rsplit("serving on ", 1)[1]
            return RunningIssuer(url, SigningKeys.load_or_create(keys_file), process)
        if not line and process.poll() is not None:
            break
    process.kill()
    process.wait(5)
    process.stdout.close()
    raise RuntimeError(f"issuer did not start: {(directory / 'issuer.log').read_text()}")


def auth_policy(issuer: RunningIssuer, *, extra: str = "", allowed_hosts: str = '["127.0.0.1", "localhost"]',
                features: str = "") -> str:
    """A policy TOML with JWT auth against `issuer` (exec toggleable, STOW on)."""
    return f"""
[server]
allowed_hosts = {allowed_hosts}
{extra}
[features]
dicomweb_write = true
exec_toggle = true
{features}
[auth]
mode = "jwt"
issuer = "{issuer.url}"
audience = "{issuer.audience}"
leeway = 5
jwks_min_refresh_seconds = 5
failure_limit = 1000
"""


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = ALL_SCOPES
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def bad_tokens(issuer: RunningIssuer, scope: str) -> dict[str, Callable[[], str]]:
    """name -> factory of a token carrying `scope` that must be refused with 401 invalid_token."""
    now = time.time()
    other = SigningKeys.generate()

    def claims() -> dict[str, Any]:
        return {"iss": issuer.url, "aud": issuer.audience, "sub": "mallory", "exp": int(now + 300),
                "iat": int(now), "jti": "x", "client_id": CLIENT, "scope": scope}

    return {
        "expired": lambda: issuer.mint(scope, now=now - 3600, lifetime=60),
        "not_yet_valid": lambda: issuer.mint(scope, extra={"nbf": int(now + 3600)}),
        "issued_in_future": lambda: issuer.mint(scope, extra={"iat": int(now + 3600)}),
        "wrong_issuer": lambda: issuer.mint(scope, issuer="https://evil.example"),
        "wrong_audience": lambda: issuer.mint(scope, audience="https://other.service"),
        "unknown_kid": lambda: other.sign(claims(), {"kid": "not-published"}),
        "foreign_key_same_kid": lambda: other.sign(claims(), {"kid": issuer.keys.current.kid}),
        "alg_none": lambda: unsigned_token(claims()),
        "hs256_with_public_key": lambda: hmac_with_public_key(issuer.keys, claims()),
        "tampered_payload": lambda: _tamper(issuer.mint("slicerweb.static")),
        "id_token_typ": lambda: issuer.mint(scope, header={"typ": "JWT"}),
        "no_typ": lambda: issuer.mint(scope, header={"typ": None}),
        "missing_exp": lambda: issuer.keys.sign({k: v for k, v in claims().items() if k != "exp"}),
        "jku_header": lambda: issuer.mint(scope, header={"jku": "https://evil.example/jwks"}),
        "garbage": lambda: "not-a-jwt",
    }


def check_exec_toggle(http: httpx.Client, issuer: RunningIssuer, audit_path: Path) -> None:
    """The exec story, through whatever `http` points at (the app, or a proxy in front of it).

    Refused while off; an admin switches it on for ~1 s; then allowed with the exec scope only;
    off again by itself; every step audited.
    """
    def bearer(scope: str, subject: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {issuer.mint(scope, subject=subject)}"}

    code = "__execResult['answer'] = 6 * 7"
    executor = bearer("slicer.exec slicer.read", subject="executor")
    refused = http.post("/slicer/exec", content=code, headers=executor)
    assert refused.status_code == 403, refused.text
    not_admin = http.put("/admin/features/exec", json={"enabled": True, "minutes": 0.02},
                         headers=bearer("slicer.exec slicer.write"))
    assert not_admin.status_code == 403
    toggled = http.put("/admin/features/exec", json={"enabled": True, "minutes": 0.02},
                       headers=bearer("slicerweb.admin", subject="admin"))
    assert toggled.status_code == 200, toggled.text
    assert toggled.json()["enabled"] is True
    ran = http.post("/slicer/exec", content=code, headers=executor)
    assert ran.status_code == 200, ran.text
    assert ran.json() == {"answer": 42}
    without_scope = http.post("/slicer/exec", content=code, headers=bearer("slicer.write slicer.read"))
    assert without_scope.status_code == 403
    assert 'error="insufficient_scope"' in without_scope.headers["www-authenticate"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # 0.02 min = 1.2 s, plus the flag cache's 1 s
        after = http.post("/slicer/exec", content=code, headers=executor)
        if after.status_code == 403:
            break
        time.sleep(0.5)
    assert after.status_code == 403, "exec did not switch itself off"
    events = settled_audit(audit_path)
    kinds = [(e["event"], e.get("subject")) for e in events]
    assert ("feature.toggle", "admin") in kinds
    assert ("exec.denied", "executor") in kinds
    runs = [e for e in events if e["event"] == "exec.run"]
    assert runs and runs[-1]["subject"] == "executor" and runs[-1]["outcome"] == "ok"
    assert runs[-1]["sha256"] and runs[-1]["size"] == len(code)
    assert any(e["event"] == "access.denied" and e.get("action") == "exec" for e in events)
    assert any(e["event"] == "access.denied" and e.get("action") == "admin" for e in events)
