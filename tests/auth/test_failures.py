"""Repeated authentication failures from one client earn 429 (app level, so it works behind Caddy)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import start_server
from tests.oidc import auth_policy, start_issuer


def test_too_many_failures_get_429_even_with_a_good_token(tmp_path: Path) -> None:
    issuer = start_issuer(tmp_path / "issuer")
    (tmp_path / "app").mkdir()
    live = start_server(tmp_path / "app", policy_toml=auth_policy(issuer).replace(
        "failure_limit = 1000", "failure_limit = 3"))
    try:
        with live.client() as http:
            for _ in range(3):
                assert http.get("/slicer/system/version", headers={"Authorization": "Bearer bad"}).status_code == 401
            # Missing credentials are not failures; a good token from the same client is now refused too.
            blocked = http.get("/slicer/system/version",
                               headers={"Authorization": f"Bearer {issuer.mint('slicer.read')}"})
            assert blocked.status_code == 429
            assert int(blocked.headers["retry-after"]) >= 1
    finally:
        live.stop()
        issuer.stop()
