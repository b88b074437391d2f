"""The admin console's files and sign-in settings (`console_config.py`, served by static.py): /admin/config.json
carries the viewer client, the issuer and `viewer.admin_scope`; the console's page, script and style come
with a CSP that has no 'unsafe-*' source, and the page holds no inline script, style or event handler;
on a loopback server without sign-in the console runs in Chromium under that CSP as the local operator
and switches exec on with a reason."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from quart import Quart

from slicerweb.engine.headless import HeadlessEngine
from slicerweb.policy import Policy
from slicerweb.static import BUNDLED_DOCROOT
from tests.conftest import LiveServer
from tests.support import settled_audit
from tests.test_ohif_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS
from tests.test_ohif_signin import REPORT_CSP

CONSOLE = BUNDLED_DOCROOT / "admin"


async def test_config_names_the_viewer_client_and_the_admin_scope(make_app: Callable[..., tuple[Quart, HeadlessEngine]],
                                                                  make_policy: Callable[..., Policy]) -> None:
    policy = make_policy(**{"auth.mode": "jwt", "auth.issuer": "https://login.hospital.lan/realms/r/",
                            "auth.audience": "https://slicer", "auth.public": ["static"],
                            "viewer.oidc_client_id": "ohif", "viewer.admin_scope": "openid api://sw/admin"})
    app, _ = make_app(policy)
    response = await app.test_client().get("/admin/config.json")
    assert response.status_code == 200 and response.content_type == "application/json"
    assert await response.get_json() == {"auth": "jwt", "authority": "https://login.hospital.lan/realms/r",
                                         "client_id": "ohif", "scope": "openid api://sw/admin",
                                         "redirect_path": "/admin/"}
    page = await app.test_client().get("/admin/")
    csp = page.headers["Content-Security-Policy"]
    assert page.status_code == 200 and "unsafe" not in csp
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "connect-src 'self' https://login.hospital.lan;" in csp
    for asset in ("/admin/console.js", "/admin/console.css"):
        served = await app.test_client().get(asset)
        assert served.status_code == 200 and served.headers["Content-Security-Policy"] == csp
    assert (await app.test_client().get("/admin/console.js")).content_type.startswith("application/javascript")
    # The viewer keeps its own (OHIF needs inline bootstrap code): the strict policy is the console's only.
    assert "unsafe-inline" in (await app.test_client().get("/")).headers["Content-Security-Policy"]


def test_console_page_has_no_inline_code_or_style() -> None:
    html = (CONSOLE / "index.html").read_text()
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="/admin/console.js">']
    assert "<style" not in html and not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)
    script = (CONSOLE / "console.js").read_text()
    assert "innerHTML" not in script and "eval(" not in script and "new Function" not in script


@pytest.mark.browser
def test_console_runs_under_its_csp_as_the_local_operator(live_server: Callable[..., LiveServer],
                                                          tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed")
    server = live_server()  # auth off, loopback only: the console calls its API without a token
    violations: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            context.add_init_script(REPORT_CSP)
            page = context.new_page()
            page.on("console", lambda m: violations.append(m.text) if "CSP violation" in m.text else None)
            page.goto(f"{server.url}/admin/", timeout=TIMEOUT_MS)
            page.locator("#features tr[data-feature='exec']").wait_for(timeout=TIMEOUT_MS)
            assert page.locator("#who").inner_text() == "Signed in as local"
            page.locator("#reason").fill("local check")
            page.locator("#exec-minutes").fill("2")
            page.locator("#exec-on").click()
            page.get_by_text("Exec is ON until").wait_for(timeout=TIMEOUT_MS)
            page.locator("#audit tbody tr", has_text="feature.toggle").wait_for(timeout=TIMEOUT_MS)
        finally:
            browser.close()
    assert not violations, violations
    audit = settled_audit(server.data_dir / "audit.jsonl",
                          until=lambda events: any(e["event"] == "feature.toggle" for e in events))
    toggle = next(e for e in audit if e["event"] == "feature.toggle")
    assert toggle["reason"] == "local check" and toggle["subject"] == "local"
