"""The admin console (docroot/admin/) in headless Chromium through the real stack (nginx and Caddy, TLS,
the local issuer), as an IT admin uses it.

Contract: opening /admin/ sends the browser to the issuer's login; an admin who signs in sees every
feature flag with its policy ceiling; switching exec on for 5 minutes with a reason shows it on with
its end time, and the audit view (and the audit file) shows the toggle with the admin's name and the
reason; the edge sends the console's CSP without 'unsafe-*'; exec then works through the stack (POST
/slicer/exec) and the audit view filtered on `exec` shows the run. No CSP violation on the way. A user
without the admin scope signs in, sees the 403 in the console, and gets 403 JSON on every admin route
of the app's route table with the token the console held.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Playwright, Request, sync_playwright

from slicerweb.csp import console_content_security_policy
from slicerweb.devstack.demo_stack import DemoStack, origin_of, start_demo_stack
from tests.auth.test_route_matrix import ROUTES
from tests.proxy.fronts import PROXIES
from tests.support import settled_audit
from tests.test_ohif_browser import TIMEOUT_MS
from tests.test_ohif_signin import launch, new_session, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.proxy]
USERS = {"admin": ("admin-password-1", "openid slicerweb.admin"),
         "reader": ("reader-password-1", "openid dicomweb.read")}
REASON = "ticket 7: run the nightly export by hand"
ADMIN_ROUTES = [(method, path) for method, path in ROUTES if path.startswith("/admin/")]


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module", params=PROXIES)
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    running = start_demo_stack(request.param, tmp_path_factory.mktemp(f"console-{request.param}"), users=USERS,
                               demo_data=False)
    yield running
    running.stop()


@pytest.fixture
def browser(playwright: Playwright, demo: DemoStack) -> Iterator[Browser]:
    instance = launch(playwright, demo)
    yield instance
    instance.close()


def https(demo: DemoStack) -> httpx.Client:
    return httpx.Client(base_url=demo.stack.url, timeout=30,
                        verify=ssl.create_default_context(cafile=str(demo.stack.certs.ca_cert)))


def test_admin_switches_exec_on_for_five_minutes_with_a_reason(browser: Browser, demo: DemoStack) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    session = new_session(context, demo)
    page = session.page
    try:
        page.goto(f"{demo.stack.url}/admin/", wait_until="domcontentloaded", timeout=TIMEOUT_MS)
        sign_in(page, demo, "admin", USERS["admin"][0], landing=f"{demo.stack.url}/admin/")
        exec_row = page.locator("#features tr[data-feature='exec']")
        exec_row.wait_for(timeout=TIMEOUT_MS)
        assert page.locator("#who").inner_text() == "Signed in as admin"
        assert exec_row.locator("td").nth(2).inner_text() == "off"
        # The ceiling is shown: dicomweb_write is on in the demo policy, cors off, and cors cannot be switched.
        cors = page.locator("#features tr[data-feature='cors'] td")
        assert [cors.nth(i).inner_text() for i in (1, 2, 6)] == ["off", "off", "policy only"]

        page.locator("#exec-on").click()  # no reason yet: refused in the page, nothing sent
        assert "reason is required" in page.locator("#error").inner_text()
        page.locator("#reason").fill(REASON)
        page.locator("#exec-minutes").fill("5")
        started = time.time()
        page.locator("#exec-on").click()
        page.get_by_text("Exec is ON until").wait_for(timeout=TIMEOUT_MS)
        assert exec_row.locator("td").nth(2).inner_text() == "on"
        assert exec_row.locator("td").nth(3).inner_text() == "admin"
        remaining = page.locator("#exec-state").inner_text()
        assert "4 min" in remaining or "5 min 0 s" in remaining, remaining

        toggle_row = page.locator("#audit tbody tr", has_text="feature.toggle").first
        toggle_row.wait_for(timeout=TIMEOUT_MS)
        cells = toggle_row.locator("td")
        assert cells.nth(2).inner_text() == "admin" and cells.nth(3).inner_text() == "ok"
        assert f"reason={REASON}" in cells.nth(4).inner_text() and "feature=exec" in cells.nth(4).inner_text()

        with https(demo) as http:
            # The edge sends the console's strict policy beside the viewer's: browsers enforce both.
            policies = http.get("/admin/").headers.get_list("content-security-policy")
            assert console_content_security_policy(origin_of(demo.issuer_url)) in policies, policies
            ran = http.post("/slicer/exec", content="__execResult = {'answer': 6 * 7}",
                            headers={"Authorization": f"Bearer {demo.token('slicer.exec')}"})
        assert ran.status_code == 200 and ran.json() == {"answer": 42}

        page.locator("#audit-action").fill("exec")
        page.get_by_role("button", name="Filter").click()
        page.locator("#audit tbody tr", has_text="exec.run").wait_for(timeout=TIMEOUT_MS)
        events = page.locator("#audit tbody tr td:nth-child(2)").all_inner_texts()
        assert events and all(event.startswith("exec.") for event in events), events
        assert not session.csp, session.csp
    finally:
        context.close()
    audit = settled_audit(demo.stack.audit_path, until=lambda events: any(e["event"] == "exec.run" for e in events))
    toggle = next(e for e in audit if e["event"] == "feature.toggle")
    assert toggle["subject"] == "admin" and toggle["reason"] == REASON and toggle["via"] == "console"
    assert started + 290 < float(str(toggle["expires_at"])) < time.time() + 310
    run = next(e for e in audit if e["event"] == "exec.run")
    assert run["outcome"] == "ok"


def test_a_user_without_the_admin_scope_gets_403_everywhere(browser: Browser, demo: DemoStack) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    session = new_session(context, demo)
    page = session.page
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request) if "/admin/api/" in request.url else None)
    try:
        page.goto(f"{demo.stack.url}/admin/", wait_until="domcontentloaded", timeout=TIMEOUT_MS)
        sign_in(page, demo, "reader", USERS["reader"][0], landing=f"{demo.stack.url}/admin/")
        page.locator("#error").wait_for(timeout=TIMEOUT_MS)
        assert page.locator("#error").inner_text().startswith("403")
        assert page.locator("#console").is_hidden()
        assert not session.csp, session.csp
        token = next(r.all_headers()["authorization"] for r in sent if "authorization" in r.all_headers())
    finally:
        context.close()
    assert ADMIN_ROUTES, "no admin route in the route table"
    before = Path(demo.stack.audit_path).read_text()
    with https(demo) as http:
        for method, path in ADMIN_ROUTES:
            for _ in range(10):  # nginx's admin rate (burst 10, then 1/s per token) may ask us to slow down
                response = http.request(method, path, headers={"Authorization": token},
                                        json={"enabled": True, "minutes": 1, "reason": "not mine"})
                if response.status_code != 429:
                    break
                time.sleep(1)
            assert response.status_code == 403, (method, path, response.text)
            assert response.headers["content-type"] == "application/json"
            assert response.json()["success"] is False, (method, path)
    after = settled_audit(demo.stack.audit_path)
    assert not [e for e in after if e["event"] in ("feature.toggle", "feature.reset")
                and e.get("subject") == "reader"], "a refused call changed a feature"
    assert len(Path(demo.stack.audit_path).read_text()) >= len(before)
