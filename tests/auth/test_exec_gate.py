"""Exec through the app alone: off until an admin switches it on, exec scope required, off again
by itself after the toggle's expiry, every step audited."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import start_server
from tests.oidc import auth_policy, check_exec_toggle, start_issuer


def test_exec_toggle_story(tmp_path: Path) -> None:
    issuer = start_issuer(tmp_path / "issuer")
    (tmp_path / "app").mkdir()
    live = start_server(tmp_path / "app", policy_toml=auth_policy(issuer))
    try:
        with live.client() as http:
            check_exec_toggle(http, issuer, live.data_dir / "audit.jsonl")
    finally:
        live.stop()
        issuer.stop()
