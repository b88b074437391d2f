"""The login page and the authorization endpoint, through real HTTP against a real issuer process."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.issuer.conftest import FREE_ATTEMPTS, LOGOUT, MAX_DELAY, REDIRECT, USERS, VIEWER, SignInIssuer, redirected


def _alert(page: httpx.Response) -> str:
    found = re.search(r'<p class="error" role="alert">([^<]*)</p>', page.text)
    return found.group(1) if found else ""


def test_login_page_is_a_plain_form_with_a_strict_csp(signin: SignInIssuer) -> None:
    page = signin.browser().authorize()
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert 'name="username"' in page.text and 'type="password"' in page.text and "<script" not in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "base-uri 'none'" in csp
    # The form posts to the issuer; the client's origin only because Chromium checks the redirect too.
    assert "form-action 'self' http://127.0.0.1:3000;" in csp and "script-src" not in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["x-content-type-options"] == "nosniff"
    assert "httponly" in page.headers["set-cookie"].lower() and "samesite=strict" in page.headers["set-cookie"].lower()


def test_sign_in_redirects_with_a_code_and_the_state_unchanged(signin: SignInIssuer) -> None:
    # The client compares `state` with what it stored; the server must hand back exactly what it got.
    state = "tampered/✓ &x=1?#" + "z" * 200
    query = signin.browser().sign_in(state=state)
    assert query["state"] == state and query["iss"] == signin.url and len(query["code"]) >= 40
    assert set(query) == {"code", "state", "iss"}


def test_wrong_password_and_unknown_user_read_the_same(signin: SignInIssuer) -> None:
    browser = signin.browser()
    form = browser.form()
    wrong = browser.submit(form, "carol", "not her password")
    unknown = browser.submit(form, "nobody-by-this-name", "whatever")
    assert wrong.status_code == unknown.status_code == 401
    assert _alert(wrong) == _alert(unknown) == "Wrong username or password."
    assert "location" not in wrong.headers and "location" not in unknown.headers
    assert redirected(browser.submit(form, "carol", USERS["carol"][0]), REDIRECT)["code"]  # form still usable


@pytest.mark.parametrize("attack", ["missing", "tampered", "other_request", "no_browser_cookie"])
def test_login_csrf_is_refused(signin: SignInIssuer, attack: str) -> None:
    browser = signin.browser()
    form = browser.form()
    if attack == "missing":
        forged = {"request": form["request"]}
    elif attack == "tampered":
        forged = {**form, "csrf": form["csrf"][:-2] + ("AA" if not form["csrf"].endswith("AA") else "BB")}
    elif attack == "other_request":   # a token from another pending request (the attacker's own)
        forged = {**form, "csrf": signin.browser().form()["csrf"]}
    else:                             # right fields, posted from a browser that never saw the form
        forged = form
        browser = signin.browser()
    refused = browser.submit(forged, "alice", USERS["alice"][0])
    assert refused.status_code == 403 and "CSRF" in refused.text and "location" not in refused.headers
    assert "set-cookie" not in refused.headers or "session" not in refused.headers["set-cookie"]


@pytest.mark.parametrize("redirect_uri", [
    "https://evil.example/browse/callback",
    REDIRECT + "/../../evil", REDIRECT + "x", REDIRECT + "?next=https://evil.example", REDIRECT + "/",
    REDIRECT.replace("127.0.0.1", "127.0.0.1.evil.example"), REDIRECT.upper(), "",
])
def test_unregistered_redirect_uri_gets_an_error_page_never_a_redirect(signin: SignInIssuer,
                                                                       redirect_uri: str) -> None:
    page = signin.browser().authorize(redirect_uri=redirect_uri or None)
    assert page.status_code == 400 and "location" not in page.headers
    assert "not registered" in page.text and page.headers["content-type"].startswith("text/html")


def test_unknown_client_gets_an_error_page(signin: SignInIssuer) -> None:
    page = signin.browser().authorize(client_id="someone-else")
    assert page.status_code == 400 and "location" not in page.headers and "Unknown client" in page.text


@pytest.mark.parametrize(("overrides", "error"), [
    ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": "short"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"state": "s" * 5000}, "invalid_request"),
])
def test_bad_requests_from_a_known_client_go_back_with_an_error(signin: SignInIssuer, overrides: dict[str, str],
                                                                error: str) -> None:
    answer = signin.browser().authorize(state="keep-me", **overrides) if "state" not in overrides else \
        signin.browser().authorize(**overrides)
    assert answer.status_code == 303
    query = redirected(answer, REDIRECT)
    assert query["error"] == error and "code" not in query and query["error_description"]
    if "state" not in overrides:
        assert query["state"] == "keep-me"


def test_login_session_signs_in_again_without_the_form_until_end_session(signin: SignInIssuer) -> None:
    browser = signin.browser()
    assert browser.authorize(prompt="none").headers["location"].find("error=login_required") > 0
    first = browser.sign_in()
    again = browser.authorize(state="second")
    assert again.status_code == 303   # the issuer's session: no form the second time
    second = redirected(again, REDIRECT)
    assert second["state"] == "second" and second["code"] != first["code"]
    tokens = browser.redeem(second["code"]).json()
    assert browser.authorize(prompt="login").status_code == 200   # the client may insist on the form

    out = browser.http.get(f"{signin.url}/end-session",
                           params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": LOGOUT,
                                   "state": "bye"})
    assert out.status_code == 303 and redirected(out, LOGOUT) == {"state": "bye"}
    assert "max-age=0" in out.headers["set-cookie"].lower() or "expires=" in out.headers["set-cookie"].lower()
    assert browser.authorize().status_code == 200               # the form again
    assert "error=login_required" in browser.authorize(prompt="none").headers["location"]
    refused = browser.refresh(tokens["refresh_token"])           # sign-out revoked the session's tokens
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("target", ["https://evil.example/", LOGOUT + "x", REDIRECT])
def test_end_session_refuses_unregistered_post_logout_uris(signin: SignInIssuer, target: str) -> None:
    browser = signin.browser()
    browser.sign_in()
    out = browser.http.get(f"{signin.url}/end-session", params={"client_id": VIEWER,
                                                                "post_logout_redirect_uri": target})
    assert out.status_code == 400 and "location" not in out.headers and "not registered" in out.text
    assert browser.authorize().status_code == 303   # still signed in: nothing was ended by a refused request


def test_end_session_without_a_target_says_signed_out(signin: SignInIssuer) -> None:
    browser = signin.browser()
    browser.sign_in()
    out = browser.http.post(f"{signin.url}/end-session")
    assert out.status_code == 200 and "You are signed out" in out.text
    assert browser.authorize().status_code == 200


def test_failed_logins_back_off_per_user_and_address_without_locking_the_owner_out(signin: SignInIssuer) -> None:
    attacker = signin.browser("127.0.0.2")
    form = attacker.form()
    for _ in range(FREE_ATTEMPTS):
        assert attacker.submit(form, "bob", "guess").status_code == 401
    throttled = attacker.submit(form, "bob", USERS["bob"][0])   # even the right password waits now
    assert throttled.status_code == 429 and "Too many failed sign-ins" in _alert(throttled)
    assert 1 <= int(throttled.headers["retry-after"]) <= MAX_DELAY
    assert "location" not in throttled.headers

    owner = signin.browser("127.0.0.3")                         # bob, from his own machine, meanwhile
    assert redirected(owner.submit(owner.form(), "bob", USERS["bob"][0]), REDIRECT)["code"]
    neighbour = signin.browser("127.0.0.2")                    # other names from the attacker's address
    assert neighbour.submit(neighbour.form(), "carol", USERS["carol"][0]).status_code == 303

    deadline = time.monotonic() + 10 * MAX_DELAY
    while (answer := attacker.submit(form, "bob", USERS["bob"][0])).status_code == 429:
        assert time.monotonic() < deadline, "the backoff did not end"
        time.sleep(float(answer.headers["retry-after"]))
    assert redirected(answer, REDIRECT)["code"]                 # bounded: the right password works again
