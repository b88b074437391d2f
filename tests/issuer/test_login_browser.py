"""The login page in real headless Chromium: the form works under its own CSP (including the redirect
to the client's origin after the POST, which Chromium checks against form-action), no violation is
logged, and the code it delivers redeems with the PKCE verifier."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Route

from slicerweb.issuer.server import s256
from tests.issuer.conftest import APP_ORIGIN, REDIRECT, USERS, VIEWER, SignInIssuer, redirected
from tests.test_ohif_browser import launched_chromium

pytestmark = pytest.mark.browser
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with launched_chromium() as instance:
        yield instance


def test_sign_in_in_chromium_reaches_the_client_with_a_code(signin: SignInIssuer, chromium: Browser) -> None:
    browser = signin.browser()   # its verifier and nonce; Chromium does the browsing
    query = {"response_type": "code", "client_id": VIEWER, "redirect_uri": REDIRECT, "scope": "openid dicomweb.read",
             "state": "chromium-state", "nonce": browser.nonce, "code_challenge": s256(browser.verifier),
             "code_challenge_method": "S256"}
    context = chromium.new_context()
    page = context.new_page()
    violations: list[str] = []

    def console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            violations.append(message.text)

    def client_callback(route: Route) -> None:   # stands in for the viewer's page at its origin
        route.fulfill(status=200, content_type="text/html", body="<p>callback reached</p>")

    page.on("console", console)
    page.route(f"{APP_ORIGIN}/**", client_callback)
    try:
        page.goto(f"{signin.url}/authorize?{urlencode(query)}", timeout=TIMEOUT_MS)
        page.fill("#username", "carol")
        page.fill("#password", "wrong")
        page.click("button[type=submit]")
        page.get_by_role("alert").wait_for(timeout=TIMEOUT_MS)
        assert page.get_by_role("alert").inner_text() == "Wrong username or password."
        page.fill("#password", USERS["carol"][0])
        page.click("button[type=submit]")
        page.wait_for_url(f"{REDIRECT}?**", timeout=TIMEOUT_MS)
        assert page.inner_text("p") == "callback reached"
        location = page.url
    finally:
        context.close()
    assert violations == []

    class Redirect:   # redirected() reads a response's Location
        headers = {"location": location}

    code = redirected(Redirect(), REDIRECT)  # type: ignore[arg-type]
    assert code["state"] == "chromium-state"
    tokens = browser.redeem(code["code"])
    assert tokens.status_code == 200 and tokens.json()["scope"] == "openid dicomweb.read"
