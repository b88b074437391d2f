"""OHIF v3 at /browse, driven in headless Chromium against a real `slicerweb serve --demo`.

Contract: deploy/fetch-ohif installs the viewer into docroot/browse; /browse boots it under our CSP
(no violations); its study list shows the demo patients that QIDO returns; opening a study makes it
fetch series metadata and frames from /dicom (all answered 200) and paint a non-blank image.
Chromium is Debian's (/usr/bin/chromium); Playwright never downloads a browser here.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, sync_playwright

from tests.conftest import REPO, LiveServer, subprocess_env

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
TIMEOUT_MS = 60_000


@contextmanager
def launched_chromium() -> Iterator[Browser]:
    """Debian's headless Chromium under Playwright (it never downloads a browser here), closed after use."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def ohif_installed() -> Path:
    return install_ohif()


def install_ohif() -> Path:
    """The viewer in the bundled docroot (fetched from the npm cache or registry once)."""
    result = subprocess.run([str(REPO / "deploy" / "fetch-ohif")], capture_output=True, text=True,
                            env=subprocess_env(), timeout=600)
    assert result.returncode == 0, result.stderr
    index = REPO / "docroot" / "browse" / "index.html"
    assert index.is_file()
    return index


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as instance:
        yield instance


@pytest.fixture
def demo_server(live_server: Callable[..., LiveServer], ohif_installed: Path) -> LiveServer:
    return live_server(args=["--demo"])


def demo_studies(server: LiveServer) -> list[dict]:
    with server.client() as client:
        response = client.get("/dicom/studies", headers={"Accept": "application/dicom+json"})
    assert response.status_code == 200, response.text
    studies = response.json()
    assert studies, "--demo serves no DICOM study"
    return studies


def patient_name_parts(study: dict) -> list[str]:
    alphabetic = study["00100010"]["Value"][0]["Alphabetic"]
    return [part for part in alphabetic.split("^")[:2] if part]


def open_page(browser: Browser, url: str) -> tuple[Page, list[Response], list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    responses: list[Response] = []
    problems: list[str] = []
    page.on("response", lambda response: responses.append(response))  # Playwright needs a Python callable

    def console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            problems.append(message.text)

    page.on("console", console)
    page.goto(url, wait_until="domcontentloaded", timeout=TIMEOUT_MS)
    return page, responses, problems


def test_study_list_shows_the_demo_patient(browser: Browser, demo_server: LiveServer) -> None:
    studies = demo_studies(demo_server)
    page, responses, problems = open_page(browser, demo_server.url + "/browse")
    try:
        for part in patient_name_parts(studies[0]):
            page.get_by_text(part, exact=False).first.wait_for(timeout=TIMEOUT_MS)
        qido = [r for r in responses if "/dicom/studies?" in r.url]
        assert qido and all(r.status == 200 for r in qido)
        assert "includefield=00081030%2C00080060%2C00080090%2C00100030" in qido[0].url
        assert not problems, problems
    finally:
        page.close()


def test_opening_a_study_fetches_frames_and_paints_the_image(browser: Browser, demo_server: LiveServer) -> None:
    study_uid = demo_studies(demo_server)[0]["0020000D"]["Value"][0]
    page, responses, problems = open_page(browser, f"{demo_server.url}/browse/viewer?StudyInstanceUIDs={study_uid}")
    try:
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        image_requests: list[Response] = []
        while time.monotonic() < deadline:
            image_requests = [r for r in responses if "/frames/" in r.url or "requestType=WADO" in r.url]
            if image_requests and painted(page):
                break
            page.wait_for_timeout(500)
        dicom = [r for r in responses if "/dicom" in r.url]
        assert any("/metadata" in r.url for r in dicom), [r.url for r in dicom]
        assert image_requests, [r.url for r in dicom]
        assert all(r.status in (200, 206) for r in dicom), [(r.url, r.status) for r in dicom if r.status >= 300]
        assert painted(page), "the viewport stayed blank"
        assert "/notfoundstudy" not in page.url
        assert not problems, problems
    finally:
        page.close()


# Luminance range and lit fraction of a 2D canvas; cornerstone3D draws each viewport into one.
CANVAS_STATS = """canvas => {
  const ctx = canvas.getContext('2d');
  if (!ctx || canvas.width < 32 || canvas.height < 32) return null;
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let lo = 255, hi = 0, lit = 0;
  for (let i = 0; i < data.length; i += 4) {
    const v = (data[i] + data[i + 1] + data[i + 2]) / 3;
    lo = Math.min(lo, v); hi = Math.max(hi, v); if (v > 16) lit++;
  }
  return {lo, hi, lit: lit / (data.length / 4)};
}"""


def painted(page: Page) -> bool:
    """Whether the first viewport canvas holds an image: a real range of grey levels over part of it.

    The canvas's own pixels are read (not a screenshot), so overlays such as OHIF's tour popups
    cannot make a blank viewport pass.
    """
    canvas = page.locator("canvas.cornerstone-canvas").first
    if canvas.count() == 0:
        return False
    stats = canvas.evaluate(CANVAS_STATS)
    return bool(stats) and stats["hi"] - stats["lo"] > 40 and stats["lit"] > 0.02
