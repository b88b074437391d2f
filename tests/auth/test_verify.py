"""GET /auth/verify beyond the basics: public docroot, preflights, the nginx status mapping, and
that it is answered only for GET (the proxies never send anything else)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import LiveServer, start_server
from tests.oidc import RunningIssuer, auth_policy


@pytest.fixture(scope="module")
def server(issuer: RunningIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    policy = auth_policy(issuer).replace("failure_limit = 1000", 'failure_limit = 1000\npublic = ["static"]')
    live = start_server(tmp_path_factory.mktemp("app"), policy_toml=policy)
    yield live
    live.stop()


def verify(server: LiveServer, method: str, uri: str, **headers: str) -> tuple[int, dict[str, str]]:
    with server.client() as http:
        response = http.get("/auth/verify", headers={"X-Forwarded-Method": method, "X-Forwarded-Uri": uri,
                                                     **headers})
        return response.status_code, dict(response.headers)


def test_public_docroot_passes_without_a_token_but_the_api_does_not(server: LiveServer) -> None:
    status, headers = verify(server, "GET", "/browse/index.html")
    assert status == 204 and headers["x-auth-subject"] == "anonymous"
    assert verify(server, "GET", "/slicer/system/version")[0] == 401
    assert verify(server, "POST", "/slicer/exec")[0] == 401


def test_preflight_passes_to_the_apps_cors_layer(server: LiveServer) -> None:
    assert verify(server, "OPTIONS", "/dicom/studies")[0] == 204


def test_nginx_mode_sends_400_as_403_with_the_real_status(server: LiveServer, issuer: RunningIssuer) -> None:
    with server.client() as http:
        forwarded = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/dicom/studies?access_token=abc"}
        plain = http.get("/auth/verify", headers=forwarded)
        nginx = http.get("/auth/verify?edge=nginx", headers=forwarded)
    assert plain.status_code == 400
    assert nginx.status_code == 403 and nginx.headers["x-auth-status"] == "400"
    assert nginx.headers["x-auth-error"] == "bad_request"


def test_verify_answers_get_only(server: LiveServer) -> None:
    with server.client() as http:
        assert http.post("/auth/verify").status_code == 405


def test_admin_route_needs_the_admin_scope_at_the_edge(server: LiveServer, issuer: RunningIssuer) -> None:
    token = {"Authorization": f"Bearer {issuer.mint('slicer.read slicer.write slicer.exec')}"}
    status, headers = verify(server, "PUT", "/admin/features/exec", **token)
    assert status == 403 and 'scope="slicerweb.admin"' in headers["www-authenticate"]
    admin = {"Authorization": f"Bearer {issuer.mint('slicerweb.admin', subject='root')}"}
    status, headers = verify(server, "PUT", "/admin/features/exec", **admin)
    assert status == 204 and headers["x-auth-action"] == "admin" and headers["x-auth-subject"] == "root"
