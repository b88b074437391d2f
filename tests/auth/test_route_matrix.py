"""Every route of the app, taken from its route table (so a new route cannot escape), refuses a
request without a token (401) and a token without the route's scope (403), and the proxies'
verifier endpoint decides exactly as the app does for each of them."""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from slicerweb.app import create_app
from slicerweb.engine.headless import HeadlessEngine
from slicerweb.policy import default_policy
from tests.conftest import LiveServer, start_server
from tests.oidc import RunningIssuer, auth_policy


def route_samples() -> list[tuple[str, str]]:
    """(method, example path) for every rule and method of an app with every family on."""
    with tempfile.TemporaryDirectory(prefix="slicerweb-routes-") as data:
        policy = default_policy().replace(**{"features.dicomweb_write": True, "features.exec": True,
                                             "server.data_dir": data})
        engine = HeadlessEngine(Path(data))
        try:
            app = create_app(policy, engine)
        finally:
            asyncio.run(engine.close())  # its lease thread must not outlive the directory
    samples = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", "x1", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            samples.add((method, path))
    return sorted(samples)


ROUTES = route_samples()
# Operations routes answer callers on the host without a token (health.py, metrics_routes.py) and
# are refused by the proxies before their verifier; a remote caller (here: forwarded by a proxy the
# app does not trust) gets the unmounted 404 from health, and the metrics scope challenge.
LOCAL_ONLY = {"/livez": 404, "/readyz": 404, "/metrics": 401}
REMOTE = {"X-Forwarded-For": "10.9.8.7"}


@pytest.fixture(scope="module")
def server(issuer: RunningIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("app"), policy_toml=auth_policy(issuer, features="exec = true"))
    yield live
    live.stop()


def test_the_route_table_is_not_empty() -> None:
    families = {path.split("/")[1] for _, path in ROUTES}
    assert {"slicer", "dicom", "admin"} <= families


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_route_refuses_missing_and_unscoped_tokens_like_the_verifier(server: LiveServer, issuer: RunningIssuer,
                                                                      method: str, path: str) -> None:
    unscoped = {"Authorization": f"Bearer {issuer.mint('unrelated.scope')}"}
    forwarded = {"X-Forwarded-Method": method, "X-Forwarded-Uri": path}
    with server.client() as http:
        if path in LOCAL_ONLY:
            assert http.request(method, path, headers=REMOTE).status_code == LOCAL_ONLY[path]
            refused = http.request(method, path, headers={**REMOTE, **unscoped})
            assert refused.status_code == (404 if LOCAL_ONLY[path] == 404 else 403), refused.text
            return
        missing = http.request(method, path)
        assert missing.status_code == 401, missing.text
        refused = http.request(method, path, headers=unscoped)
        assert refused.status_code == 403, refused.text
        verdict = http.get("/auth/verify", headers={**forwarded, **unscoped})
        assert verdict.status_code == 403
        assert verdict.headers["www-authenticate"] == refused.headers["www-authenticate"]
        assert http.get("/auth/verify", headers=forwarded).status_code == 401
