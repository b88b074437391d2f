"""The app alone (no proxy) enforces the token rules: defence in depth if the proxy is misconfigured.

A real `slicerweb serve` process with `auth.mode = "jwt"` fetches the keys of a real local issuer;
every refused token answers 401 with an RFC 6750 challenge and leaves an `access.denied` audit line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from slicerweb.issuer.signing import SigningKeys
from tests.conftest import LiveServer, start_server
from tests.oidc import RunningIssuer, auth_policy, bad_tokens, start_issuer
from tests.support import settled_audit

READ = "dicomweb.read"


@pytest.fixture(scope="module")
def server(issuer: RunningIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("app"), policy_toml=auth_policy(issuer))
    yield live
    live.stop()


def get(server: LiveServer, path: str, token: str | None = None, **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with server.client() as http:
        return http.get(path, headers=headers, **kwargs)  # type: ignore[arg-type]


def audit(server: LiveServer) -> list[dict[str, object]]:
    return settled_audit(server.data_dir / "audit.jsonl")


def test_no_token_is_401_with_a_bare_challenge(server: LiveServer) -> None:
    response = get(server, "/dicom/studies")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="slicerweb"'
    assert response.headers["content-type"] == "application/json"
    assert response.json()["success"] is False


def test_valid_token_with_scope_is_admitted(server: LiveServer, issuer: RunningIssuer) -> None:
    assert get(server, "/dicom/studies", issuer.mint(READ)).status_code in (200, 204)


def test_token_from_the_issuers_token_endpoint_is_admitted(server: LiveServer, issuer: RunningIssuer) -> None:
    token = issuer.client_credentials("slicer.read")
    response = get(server, "/slicer/system/version", token)
    assert response.status_code == 200
    assert response.json()["applicationName"] == "SlicerWeb"


def test_valid_token_without_the_scope_is_403_insufficient_scope(server: LiveServer,
                                                                 issuer: RunningIssuer) -> None:
    response = get(server, "/dicom/studies", issuer.mint("slicer.read"))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer realm="slicerweb", error="insufficient_scope", '
        'error_description="needs one of the scopes: dicomweb.read", scope="dicomweb.read"')
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"success": False, "code": "insufficient_scope",
                               "message": "insufficient scope: needs one of the scopes: dicomweb.read"}


@pytest.mark.parametrize("name", sorted([
    "expired", "not_yet_valid", "issued_in_future", "wrong_issuer", "wrong_audience", "unknown_kid",
    "foreign_key_same_kid", "alg_none", "hs256_with_public_key", "tampered_payload", "id_token_typ",
    "no_typ", "missing_exp", "jku_header", "garbage"]))
def test_bad_token_is_refused(server: LiveServer, issuer: RunningIssuer, name: str) -> None:
    token = bad_tokens(issuer, READ)[name]()
    response = get(server, "/dicom/studies", token)
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert token not in response.text
    denied = [r for r in audit(server) if r["event"] == "access.denied" and r["status"] == 401]
    assert denied and denied[-1]["path"] == "/dicom/studies"


def test_token_in_query_string_is_refused(server: LiveServer, issuer: RunningIssuer) -> None:
    token = issuer.mint(READ)
    response = get(server, "/dicom/studies", params={"access_token": token})
    assert response.status_code == 400
    assert response.headers["www-authenticate"] == (
        'Bearer realm="slicerweb", error="invalid_request", error_description="token in query string"')
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"success": False, "code": "bad_request", "message":
                               "access tokens are accepted only in the Authorization header (RFC 6750 §2.1)"}
    assert token not in response.text
    denied = [r for r in audit(server) if r["event"] == "access.denied" and r["reason"] == "token in query string"]
    assert denied and denied[-1]["status"] == 400 and token not in json.dumps(denied)


def test_two_credentials_are_invalid_request(server: LiveServer, issuer: RunningIssuer) -> None:
    token = issuer.mint(READ)
    with server.client() as http:
        response = http.get("/dicom/studies", headers={"Authorization": f"Bearer {token}, Bearer {token}"})
    assert response.status_code == 400
    assert response.headers["www-authenticate"] == (
        'Bearer realm="slicerweb", error="invalid_request", '
        'error_description="more than one credential in Authorization"')
    assert response.json() == {"success": False, "code": "bad_request",
                               "message": "more than one credential in Authorization"}
    assert token not in response.text


def test_a_small_clock_skew_is_tolerated(server: LiveServer, issuer: RunningIssuer) -> None:
    # The policy's leeway is 5 s: a token that expired 2 s ago still passes, one 60 s ago does not.
    now = time.time()
    assert get(server, "/dicom/studies", issuer.mint(READ, now=now - 62, lifetime=60)).status_code in (200, 204)
    expired = get(server, "/dicom/studies", issuer.mint(READ, now=now - 120, lifetime=60))
    assert expired.status_code == 401
    assert expired.headers["www-authenticate"].startswith('Bearer realm="slicerweb", error="invalid_token", ')
    assert expired.json()["code"] == "unauthorized" and expired.json()["message"].startswith("invalid token: ")


def test_verify_endpoint_decides_like_the_app(server: LiveServer, issuer: RunningIssuer) -> None:
    forwarded = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/dicom/studies?PatientID=1"}
    with server.client() as http:
        assert http.get("/auth/verify", headers=forwarded).status_code == 401
        ok = http.get("/auth/verify", headers={**forwarded, "Authorization": f"Bearer {issuer.mint(READ)}"})
        assert ok.status_code == 204
        assert ok.headers["x-auth-subject"] == "alice" and ok.headers["x-auth-scopes"] == READ
        write = {"X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/dicom/studies"}
        denied = http.get("/auth/verify", headers={**write, "Authorization": f"Bearer {issuer.mint(READ)}"})
        assert denied.status_code == 403
        assert 'scope="dicomweb.write"' in denied.headers["www-authenticate"]
        query = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": f"/dicom/studies?access_token={issuer.mint(READ)}"}
        refused = http.get("/auth/verify", headers=query)
        assert refused.status_code == 400
        assert refused.headers["www-authenticate"] == (
            'Bearer realm="slicerweb", error="invalid_request", error_description="token in query string"')
        assert refused.json()["code"] == "bad_request"
        nginx = http.get("/auth/verify?edge=nginx", headers=query)  # nginx's auth_request passes only 401/403
        assert nginx.status_code == 403 and nginx.headers["x-auth-status"] == "400"


def test_key_rotation_is_picked_up_on_unknown_kid(tmp_path: Path) -> None:
    """The issuer rotates keys: a token with the new kid verifies after one JWKS refresh."""
    first = start_issuer(tmp_path / "issuer")
    port = first.url.rsplit(":", 1)[1]
    (tmp_path / "app").mkdir()
    live = start_server(tmp_path / "app", policy_toml=auth_policy(first).replace(
        "jwks_min_refresh_seconds = 5", "jwks_min_refresh_seconds = 0"))
    try:
        old_token = first.mint(READ)
        assert get(live, "/dicom/studies", old_token).status_code in (200, 204)
        first.stop()
        rotated = SigningKeys([SigningKeys.generate().current, *first.keys.keys])
        (tmp_path / "issuer" / "issuer-keys.json").write_text(json.dumps(rotated.private_jwks()))
        second = start_issuer(tmp_path / "issuer", extra_args=["--port", port, "--issuer-url", first.url])
        try:
            assert second.keys.current.kid != first.keys.current.kid
            assert get(live, "/dicom/studies", second.mint(READ)).status_code in (200, 204)
            assert get(live, "/dicom/studies", old_token).status_code in (200, 204)
        finally:
            second.stop()
    finally:
        live.stop()
