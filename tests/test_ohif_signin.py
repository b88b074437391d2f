"""A clinician's path through the demo stack `make run` starts, in headless Chromium, via nginx and Caddy.

Contract: opening the printed viewer URL redirects to the issuer's login page; signing in with the
demo credentials lands on OHIF's study list showing the demo patients; opening a study paints a
non-blank viewport; every /dicom request carried `Authorization: Bearer`, none failed, and no CSP
violation was reported (a `securitypolicyviolation` listener is injected into every page). A session
longer than the access token's lifetime keeps loading series without a new login (refresh tokens); a
deep link lands on its study after sign-in; a user whose token lacks dicomweb.read sees OHIF's error.

TLS is real: Chromium trusts exactly the stack's certificates (`--ignore-certificate-errors-spki-list`
with their key hashes), not every certificate.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, Request, sync_playwright

from slicerweb.devstack.demo_stack import DemoStack, start_demo_stack
from tests.proxy.fronts import PROXIES
from tests.test_ohif_browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, install_ohif, painted

pytestmark = [pytest.mark.browser, pytest.mark.proxy]
READER_SCOPES = "openid offline_access dicomweb.read"
NO_READ_SCOPES = "openid offline_access slicer.read"
REFRESH_LIFETIME = 20.0   # access-token lifetime of the refresh test's stack (s)
REPORT_CSP = """document.addEventListener('securitypolicyviolation', e =>
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI + ' on ' + location.href));"""


@dataclass
class Session:
    """One browser tab's traffic: requests to /dicom, failed responses, CSP reports."""

    page: Page
    issuer_url: str
    dicom: list[Request] = field(default_factory=list)
    issuer: list[Request] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    csp: list[str] = field(default_factory=list)

    def frames(self) -> list[Request]:
        return [r for r in self.dicom if "/frames/" in r.url]

    def check_dicom_traffic(self) -> list[str]:
        """Every /dicom request's bearer token; asserts each had one and none failed."""
        assert self.dicom, "OHIF made no /dicom request"
        tokens = []
        for request in self.dicom:
            authorization = request.all_headers().get("authorization", "")
            assert authorization.startswith("Bearer ") and len(authorization) > 40, (request.url, authorization)
            tokens.append(authorization.removeprefix("Bearer "))
        assert not self.failures, self.failures
        assert not self.csp, self.csp
        return tokens


def expiry(token: str) -> float:
    payload = token.split(".")[1]
    return float(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"])


def spki_hashes(*pem_files: Path) -> str:
    """base64 SHA-256 of each certificate's public key, for Chromium's SPKI allow-list."""
    hashes = []
    for pem in pem_files:
        cert = x509.load_pem_x509_certificate(pem.read_bytes())
        spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        hashes.append(base64.b64encode(hashlib.sha256(spki).digest()).decode())
    return ",".join(hashes)


@pytest.fixture(scope="module")
def ohif_installed() -> Path:
    return install_ohif()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


def start(proxy: str, directory: Path, **kwargs: object) -> DemoStack:
    users = {"reader": ("reader-password-1", READER_SCOPES), "noread": ("noread-password-1", NO_READ_SCOPES)}
    return start_demo_stack(proxy, directory, users=users, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=PROXIES)
def demo(request: pytest.FixtureRequest, ohif_installed: Path,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    running = start(request.param, tmp_path_factory.mktemp(f"demo-{request.param}"))
    yield running
    running.stop()


def launch(playwright: Playwright, demo: DemoStack) -> Browser:
    pins = spki_hashes(demo.stack.certs.cert, demo.issuer_cert)
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={pins}"])


@pytest.fixture
def browser(playwright: Playwright, demo: DemoStack) -> Iterator[Browser]:
    instance = launch(playwright, demo)
    yield instance
    instance.close()


def new_session(context: BrowserContext, demo: DemoStack) -> Session:
    context.add_init_script(REPORT_CSP)
    page = context.new_page()
    session = Session(page, demo.issuer_url)

    def on_request(request: Request) -> None:
        if "/dicom" in request.url:
            session.dicom.append(request)
        if request.url.startswith(session.issuer_url):
            session.issuer.append(request)

    def on_response(response: object) -> None:
        status, url = response.status, response.url  # type: ignore[attr-defined]
        if "/dicom" in url and status not in (200, 204, 206):
            session.failures.append(f"{status} {url}")

    def on_console(message: ConsoleMessage) -> None:
        if "CSP violation" in message.text or "Content Security Policy" in message.text:
            session.csp.append(message.text)

    page.on("request", on_request)
    page.on("response", on_response)
    page.on("console", on_console)

    def on_failed(request: Request) -> None:
        # net::ERR_ABORTED is the viewer cancelling a fetch it no longer needs (cornerstone drops queued
        # frame and thumbnail loads when the viewport changes); anything else is a transport failure.
        if "/dicom" in request.url and request.failure != "net::ERR_ABORTED":
            session.failures.append(f"{request.failure} {request.url}")

    page.on("requestfailed", on_failed)
    return session


def sign_in(page: Page, demo: DemoStack, user: str, password: str, landing: str = "") -> None:
    """On the issuer's login page (where OHIF, or the admin console, sent us): fill the form and submit
    it, then wait to be back under `landing` (default: the viewer)."""
    page.wait_for_url(f"{demo.issuer_url}/**", timeout=TIMEOUT_MS)
    page.locator("#username").fill(user)
    page.locator("#password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    landing = landing or f"{demo.viewer_url}/"
    page.wait_for_url(lambda url: url.startswith(landing), timeout=TIMEOUT_MS)


def demo_studies(demo: DemoStack) -> list[dict[str, Any]]:
    token = demo.token("dicomweb.read")
    response = httpx.get(f"{demo.stack.url}/dicom/studies", params={"includefield": "00081030"},
                         headers={"Authorization": f"Bearer {token}"},
                         verify=ssl.create_default_context(cafile=str(demo.stack.certs.ca_cert)), timeout=30)
    assert response.status_code == 200, response.text
    return sorted(response.json(), key=lambda s: s["0020000D"]["Value"][0])


def description(study: dict[str, Any]) -> str:
    """What tells the demo studies apart in OHIF's list (both belong to one patient)."""
    return str(study["00081030"]["Value"][0])


def close_tour(page: Page) -> None:
    """OHIF greets a first visit to the viewer with a guided tour over the page; a person closes it."""
    overlay = page.locator(".shepherd-modal-is-visible")
    if overlay.count():
        page.keyboard.press("Escape")
        overlay.wait_for(state="detached", timeout=TIMEOUT_MS)


def wait_painted(session: Session, *, after_frames: int = 0) -> None:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        if len(session.frames()) > after_frames and painted(session.page):
            return
        session.page.wait_for_timeout(500)
    raise AssertionError(f"no image painted; /dicom: {[r.url for r in session.dicom][-5:]}, {session.failures}")


def test_sign_in_see_the_studies_open_one(browser: Browser, demo: DemoStack) -> None:
    studies = demo_studies(demo)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    session = new_session(context, demo)
    try:
        session.page.goto(demo.viewer_url, wait_until="domcontentloaded", timeout=TIMEOUT_MS)
        sign_in(session.page, demo, "reader", "reader-password-1")
        for study in studies:
            session.page.get_by_text(description(study), exact=True).first.wait_for(timeout=TIMEOUT_MS)
        # Open the first study the way a person does: its row, then the viewer button.
        session.page.get_by_text(description(studies[0]), exact=True).first.click()
        session.page.get_by_role("button", name="Basic Viewer").first.click()
        session.page.wait_for_url("**/browse/viewer?**StudyInstanceUIDs=**", timeout=TIMEOUT_MS)
        wait_painted(session)
        assert studies[0]["0020000D"]["Value"][0] in session.page.url
        session.check_dicom_traffic()
        assert any("/metadata" in r.url for r in session.dicom)
    finally:
        context.close()


# The person's path runs through both proxies; these two each through one (they exercise the viewer
# and the issuer, which the proxies pass through alike) to keep the suite's time down.
@pytest.mark.parametrize("demo", [PROXIES[1]], indirect=True)
def test_deep_link_lands_on_its_study_after_sign_in(browser: Browser, demo: DemoStack) -> None:
    study_uid = demo_studies(demo)[-1]["0020000D"]["Value"][0]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    session = new_session(context, demo)
    try:
        session.page.goto(f"{demo.viewer_url}/viewer?StudyInstanceUIDs={study_uid}", wait_until="domcontentloaded",
                          timeout=TIMEOUT_MS)
        sign_in(session.page, demo, "reader", "reader-password-1")
        session.page.wait_for_url(f"**/browse/viewer?StudyInstanceUIDs={study_uid}*", timeout=TIMEOUT_MS)
        wait_painted(session)
        assert all(study_uid in r.url for r in session.dicom if "/studies/" in r.url), \
            [r.url for r in session.dicom if study_uid not in r.url]
        session.check_dicom_traffic()
    finally:
        context.close()


@pytest.mark.parametrize("demo", [PROXIES[0]], indirect=True)
def test_a_user_without_dicomweb_read_sees_an_error(browser: Browser, demo: DemoStack) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    session = new_session(context, demo)
    try:
        session.page.goto(demo.viewer_url, wait_until="domcontentloaded", timeout=TIMEOUT_MS)
        sign_in(session.page, demo, "noread", "noread-password-1")
        with session.page.expect_response(lambda r: "/dicom/studies" in r.url, timeout=TIMEOUT_MS) as answer:
            pass
        assert answer.value.status == 403
        assert 'error="insufficient_scope"' in answer.value.headers["www-authenticate"]
        # OHIF's own dialog, over its (empty) study list: not a blank page.
        session.page.get_by_text("Data Source Connection Error").wait_for(timeout=TIMEOUT_MS)
        session.page.get_by_role("button", name="Retry").wait_for(timeout=TIMEOUT_MS)
        assert session.page.get_by_text("Study List").first.is_visible()
        assert not session.csp, session.csp
    finally:
        context.close()


@pytest.fixture
def short_token_demo(ohif_installed: Path, tmp_path: Path) -> Iterator[DemoStack]:
    if shutil.which("nginx", path="/usr/local/sbin:/usr/sbin:/usr/bin:/bin") is None:
        pytest.skip("nginx not installed")
    running = start("nginx", tmp_path / "short", token_lifetime=REFRESH_LIFETIME)
    yield running
    running.stop()


def test_reading_past_the_token_lifetime_needs_no_new_login(playwright: Playwright,
                                                            short_token_demo: DemoStack) -> None:
    demo = short_token_demo
    browser = launch(playwright, demo)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    session = new_session(context, demo)
    try:
        study_uid = demo_studies(demo)[0]["0020000D"]["Value"][0]
        session.page.goto(f"{demo.viewer_url}/viewer?StudyInstanceUIDs={study_uid}", wait_until="domcontentloaded",
                          timeout=TIMEOUT_MS)
        sign_in(session.page, demo, "reader", "reader-password-1")
        wait_painted(session)
        first_token = session.check_dicom_traffic()[0]
        session.page.wait_for_timeout((REFRESH_LIFETIME + 5) * 1000)  # the first access token has expired
        resumed = time.time()
        seen = len(session.dicom)
        close_tour(session.page)
        thumbnails = session.page.locator("[data-cy='study-browser-thumbnail']")
        thumbnails.last.dblclick()
        wait_painted(session, after_frames=len([r for r in session.dicom[:seen] if "/frames/" in r.url]))
        tokens = session.check_dicom_traffic()
        assert tokens[-1] != first_token, "the new series was fetched with the expired token"
        # Every request after the wait carried a token still valid then (the app's 30 s leeway would
        # hide an expired one for a while, so the expiry is read from the token itself).
        assert all(expiry(token) > resumed for token in tokens[seen:]), "an expired token was sent"
        assert "/browse/viewer" in session.page.url
        # Renewed by refresh token (POSTs to the token endpoint), never by a second trip to the login.
        refreshes = [r for r in session.issuer if r.method == "POST" and r.url.endswith("/token")
                     and "grant_type=refresh_token" in (r.post_data or "")]
        assert refreshes, [(r.method, r.url) for r in session.issuer]
        assert len([r for r in session.issuer if "/authorize" in r.url]) == 1
    finally:
        context.close()
        browser.close()
