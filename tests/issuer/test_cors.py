"""CORS on what OHIF's page fetches from the issuer: exact origins, no credentials, nothing for others."""

from __future__ import annotations

import httpx
import pytest

from tests.issuer.conftest import APP_ORIGIN, SignInIssuer


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/jwks.json"])
def test_the_viewers_origin_may_read_discovery_and_keys(signin: SignInIssuer, path: str) -> None:
    answer = httpx.get(f"{signin.url}{path}", headers={"Origin": APP_ORIGIN})
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "access-control-allow-credentials" not in answer.headers and "Origin" in answer.headers["vary"]


@pytest.mark.parametrize("origin", ["https://evil.example", APP_ORIGIN + ".evil.example", "null",
                                    APP_ORIGIN.replace("3000", "3001")])
def test_other_origins_get_no_cors_headers(signin: SignInIssuer, origin: str) -> None:
    answer = httpx.post(f"{signin.url}/token", data={"grant_type": "refresh_token"}, headers={"Origin": origin})
    assert answer.status_code in (400, 401) and "access-control-allow-origin" not in answer.headers
    preflight = httpx.options(f"{signin.url}/userinfo", headers={
        "Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 403 and "access-control-allow-origin" not in preflight.headers


def test_preflight_for_userinfo_allows_the_authorization_header(signin: SignInIssuer) -> None:
    preflight = httpx.options(f"{signin.url}/userinfo", headers={
        "Origin": APP_ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()


def test_token_errors_are_readable_by_the_viewer(signin: SignInIssuer) -> None:
    answer = httpx.post(f"{signin.url}/token", data={"grant_type": "refresh_token", "client_id": "viewer",
                                                     "refresh_token": "nope"}, headers={"Origin": APP_ORIGIN})
    assert answer.status_code == 400 and answer.headers["access-control-allow-origin"] == APP_ORIGIN
    assert answer.json()["error"] == "invalid_grant"


def test_login_page_has_no_cors(signin: SignInIssuer) -> None:
    page = signin.browser().http.get(f"{signin.url}/authorize", headers={"Origin": APP_ORIGIN})
    assert "access-control-allow-origin" not in page.headers
