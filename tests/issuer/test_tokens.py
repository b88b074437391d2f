"""The token side after a real sign-in: code + PKCE -> access, ID and refresh tokens; refresh rotation;
replay and reuse detection; userinfo; and SlicerWeb accepting the access token."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from slicerweb.devstack.stack import start_issuer
from tests.conftest import LiveServer
from tests.issuer.conftest import REDIRECT, USERS, VIEWER, Browser, SignInIssuer
from tests.oidc import AUDIENCE, auth_policy


def _decode(signin: SignInIssuer, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = KeySet.import_key_set(httpx.get(f"{signin.url}/jwks.json").json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    return decoded.header, decoded.claims


def _tokens(browser: Browser, username: str = "alice", **overrides: str | None) -> dict[str, Any]:
    answer = browser.redeem(browser.sign_in(username, **overrides)["code"])
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    return dict(answer.json())


def test_sign_in_yields_access_id_and_refresh_tokens(signin: SignInIssuer) -> None:
    browser = signin.browser()
    tokens = _tokens(browser)
    assert set(tokens) == {"access_token", "token_type", "expires_in", "scope", "id_token", "refresh_token"}
    header, access = _decode(signin, tokens["access_token"])
    assert header["typ"] == "at+jwt" and access["aud"] == AUDIENCE and access["sub"] == "alice"
    # asked: openid dicomweb.read slicer.read; the viewer may have slicer.write, alice may not.
    assert access["scope"] == tokens["scope"] == "openid dicomweb.read slicer.read"
    header, identity = _decode(signin, tokens["id_token"])
    assert header["typ"] == "JWT" and identity["aud"] == VIEWER and identity["azp"] == VIEWER
    assert identity["nonce"] == browser.nonce and identity["sub"] == "alice" and identity["iss"] == signin.url
    assert identity["exp"] > identity["iat"] >= identity["auth_time"]


def test_only_openid_asked_grants_the_users_own_scopes(signin: SignInIssuer) -> None:
    tokens = _tokens(signin.browser(), "bob", scope="openid")
    assert tokens["scope"] == "openid dicomweb.read"


def test_the_access_token_opens_slicerweb_and_the_id_token_does_not(
        signin: SignInIssuer, live_server: Callable[..., LiveServer]) -> None:
    server = live_server(policy_toml=auth_policy(signin.running))
    tokens = _tokens(signin.browser())
    answer = httpx.get(f"{server.url}/slicer/mrml", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert answer.status_code == 200, answer.text
    assert isinstance(answer.json(), list)
    denied = httpx.get(f"{server.url}/slicer/mrml", headers={"Authorization": f"Bearer {tokens['id_token']}"})
    assert denied.status_code == 401 and 'error="invalid_token"' in denied.headers["www-authenticate"]
    refreshed = signin.browser().refresh(tokens["refresh_token"]).json()
    later = httpx.get(f"{server.url}/slicer/mrml", headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    assert later.status_code == 200 and later.json() == answer.json()


def test_replayed_code_is_refused_and_revokes_what_it_bought(signin: SignInIssuer) -> None:
    browser = signin.browser()
    code = browser.sign_in()["code"]
    first = browser.redeem(code)
    assert first.status_code == 200
    replay = browser.redeem(code)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert "already used" in replay.json()["error_description"]
    revoked = browser.refresh(first.json()["refresh_token"])
    assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant"


def test_pkce_verifier_mismatch_is_refused_and_spends_the_code(signin: SignInIssuer) -> None:
    browser = signin.browser()
    code = browser.sign_in()["code"]
    wrong = browser.redeem(code, verifier="x" * 50)
    assert wrong.status_code == 400 and wrong.json() == {
        "error": "invalid_grant", "error_description": "PKCE verification failed (code_verifier does not match)"}
    assert browser.redeem(code).status_code == 400   # the right verifier comes too late


def test_code_is_bound_to_its_redirect_uri_and_client(signin: SignInIssuer) -> None:
    browser = signin.browser()
    code = browser.sign_in()["code"]
    other_uri = browser.http.post(f"{signin.url}/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": VIEWER,
        "redirect_uri": "http://127.0.0.1:3000/browse/other", "code_verifier": browser.verifier})
    assert other_uri.status_code == 400 and "redirect_uri" in other_uri.json()["error_description"]
    code = browser.sign_in()["code"]
    other_client = browser.http.post(f"{signin.url}/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:3000/browse/callback",
        "code_verifier": browser.verifier}, auth=("tests", "tests-secret"))
    assert other_client.status_code == 400 and other_client.json()["error"] == "invalid_grant"
    assert browser.redeem(code).status_code == 200   # the other client's attempt did not spend it


def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_family(signin: SignInIssuer) -> None:
    browser = signin.browser()
    tokens = _tokens(browser)
    second = browser.refresh(tokens["refresh_token"])
    assert second.status_code == 200 and second.headers["cache-control"] == "no-store"
    rotated = second.json()
    assert rotated["refresh_token"] != tokens["refresh_token"] and rotated["access_token"] != tokens["access_token"]
    _, identity = _decode(signin, rotated["id_token"])
    _, original = _decode(signin, tokens["id_token"])
    assert identity["sub"] == "alice" and identity["auth_time"] == original["auth_time"]
    third = browser.refresh(rotated["refresh_token"])
    assert third.status_code == 200
    # The first token comes back (a thief's copy): refused, and the legitimate chain dies with it.
    reused = browser.refresh(tokens["refresh_token"])
    assert reused.status_code == 400 and "already used" in reused.json()["error_description"]
    assert browser.refresh(third.json()["refresh_token"]).status_code == 400


def test_refresh_token_belongs_to_its_client(signin: SignInIssuer) -> None:
    tokens = _tokens(signin.browser())
    stolen = httpx.post(f"{signin.url}/token", data={"grant_type": "refresh_token",
                                                     "refresh_token": tokens["refresh_token"]},
                        auth=("tests", "tests-secret"))
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"


def test_revocation_ends_the_refresh_family(signin: SignInIssuer) -> None:
    browser = signin.browser()
    tokens = _tokens(browser)
    revoked = browser.http.post(f"{signin.url}/revoke", data={"token": tokens["refresh_token"], "client_id": VIEWER})
    assert revoked.status_code == 200
    assert browser.refresh(tokens["refresh_token"]).status_code == 400


def test_userinfo_answers_for_the_access_token_only(signin: SignInIssuer) -> None:
    tokens = _tokens(signin.browser())
    info = httpx.get(f"{signin.url}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.status_code == 200 and info.json() == {"sub": "alice", "preferred_username": "alice", "name": "alice"}
    for bad in (tokens["id_token"], tokens["refresh_token"], "garbage"):
        refused = httpx.get(f"{signin.url}/userinfo", headers={"Authorization": f"Bearer {bad}"})
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
    without_openid = _tokens(signin.browser(), scope="dicomweb.read")["access_token"]
    refused = httpx.get(f"{signin.url}/userinfo", headers={"Authorization": f"Bearer {without_openid}"})
    assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"


def test_public_client_cannot_use_client_credentials(signin: SignInIssuer) -> None:
    answer = httpx.post(f"{signin.url}/token", data={"grant_type": "client_credentials", "client_id": VIEWER})
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(("request_kwargs", "status", "code"), [
    ({"content": b"\xff\xfe\x00garbage", "headers": FORM}, 401, "invalid_client"),
    ({"content": b"grant_type=authorization_code&client_id=viewer&code=%ZZ&code=1", "headers": FORM},
     400, "invalid_grant"),
    ({"data": {"grant_type": "refresh_token", "client_id": VIEWER}}, 400, "invalid_grant"),
    ({"data": {"grant_type": "password", "client_id": VIEWER}}, 400, "unsupported_grant_type"),
    ({"data": {"grant_type": "client_credentials"}, "headers": {"authorization": "Basic !!!notb64"}},
     401, "invalid_client"),
    ({"data": {"grant_type": "client_credentials"}, "headers": {"authorization": "Basic /w=="}}, 401, "invalid_client"),
    ({"json": {"grant_type": "client_credentials", "client_id": "tests", "client_secret": "tests-secret"}},
     401, "invalid_client"),
    ({"files": {"f": ("a", b"x")}, "data": {"grant_type": "client_credentials"}}, 401, "invalid_client"),
])
def test_malformed_token_requests_get_a_json_error(signin: SignInIssuer, request_kwargs: dict[str, Any],
                                                   status: int, code: str) -> None:
    answer = httpx.post(f"{signin.url}/token", **request_kwargs)
    assert answer.status_code == status and answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == code and answer.json()["error_description"]
    assert answer.headers["cache-control"] == "no-store"


def test_replayed_code_also_deactivates_opaque_access_tokens(tmp_path: Path) -> None:
    process, url = start_issuer(tmp_path, AUDIENCE, [f"{VIEWER}::dicomweb.read", "rs:rs-secret:"],
                                redirect_uris=[REDIRECT], users={"alice": USERS["alice"]}, extra_args=["--opaque"])
    try:
        with httpx.Client(timeout=10) as http:
            browser = Browser(http, url)
            code = browser.sign_in()["code"]
            access = browser.redeem(code).json()["access_token"]
            assert "." not in access   # opaque: the issuer can take it back

            def active() -> bool:
                answer = http.post(f"{url}/introspect", data={"token": access}, auth=("rs", "rs-secret"))
                return bool(answer.json()["active"])

            assert active()
            assert browser.redeem(code).status_code == 400
            assert not active()
    finally:
        with process:  # waits, and closes its stdout pipe
            process.terminate()
