"""OHIF in headless Chromium (Debian's /usr/bin/chromium via Playwright): open a study, time the first image.

Each open is a fresh browser context (empty HTTP cache, like a new reading session) that is already
signed in: today the bearer token from the local issuer is injected as a header on every request
(`Signin.inject`); once the issuer's login page and OHIF's oidc configuration exist, `Signin` is where
the login form is driven once, before timing. A probe installed before any page script:

- polls the first viewport canvas (`canvas.cornerstone-canvas`) on every animation frame, scaled down
  to 48x48, and stamps `firstImage` (ms since navigation start) when it first holds an image: a real
  range of grey levels over part of it, the same rule as tests/test_ohif_browser.py. Resolution: one
  frame (~16 ms), for both servers alike;
- enlarges the Resource Timing buffer so every request of the load is kept (start, end, status).

The clock starts at navigation (`performance.timeOrigin`): OHIF boots from the viewer URL and
opens the study. The page's own request list splits boot (before the first /dicom request) from
the study's part. OHIF's own `studyToFirstImage` console timing is kept as a cross-check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from playwright.sync_api import Browser, BrowserContext, ConsoleMessage

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
OHIF_TIMING = re.compile(r"^studyToFirstImage: ([0-9.]+) ms")

PROBE = """(() => {
  performance.setResourceTimingBufferSize(10000);
  const probe = window.__slicerwebBench = {firstImage: null};
  const small = document.createElement('canvas');
  small.width = small.height = 48;
  const ctx = small.getContext('2d', {willReadFrequently: true});
  function holdsImage(canvas) {
    if (canvas.width < 32 || canvas.height < 32) return false;
    ctx.clearRect(0, 0, 48, 48);
    ctx.drawImage(canvas, 0, 0, 48, 48);
    const data = ctx.getImageData(0, 0, 48, 48).data;
    let lo = 255, hi = 0, lit = 0;
    for (let i = 0; i < data.length; i += 4) {
      const v = (data[i] + data[i + 1] + data[i + 2]) / 3;
      lo = Math.min(lo, v); hi = Math.max(hi, v); if (v > 16) lit++;
    }
    return hi - lo > 40 && lit / (data.length / 4) > 0.02;
  }
  function tick() {
    const canvas = document.querySelector('canvas.cornerstone-canvas');
    if (canvas && holdsImage(canvas)) { probe.firstImage = performance.now(); return; }
    requestAnimationFrame(tick);
  }
  requestAnimationFrame(tick);
})();"""

COLLECT = """() => ({
  firstImage: window.__slicerwebBench.firstImage,
  timeOrigin: performance.timeOrigin,
  path: location.pathname,
  requests: performance.getEntriesByType('resource').map(e => ({
    url: e.name, start: e.startTime, end: e.responseEnd, status: e.responseStatus || 0})),
})"""


@dataclass(frozen=True)
class Request:
    """One request the page made, in ms since navigation start."""

    url: str
    start: float
    end: float
    status: int


@dataclass
class Open:
    """One timed open of a study."""

    first_image_ms: float           # navigation start -> first image on screen
    time_origin_ms: float           # epoch ms of navigation start (to align with the proxy's log)
    requests: list[Request] = field(default_factory=list)
    ohif_study_to_image_ms: float | None = None   # OHIF's own console timing, as a cross-check

    def dicomweb(self) -> list[Request]:
        return [r for r in self.requests if "/dicom/" in r.url or "/dicom?" in r.url]

    @property
    def study_start_ms(self) -> float:
        """When OHIF sent its first DICOMweb request (the app has booted and opens the study)."""
        return min((r.start for r in self.dicomweb()), default=self.first_image_ms)

    @property
    def requests_before_image(self) -> int:
        return sum(1 for r in self.dicomweb() if r.start < self.first_image_ms)

    @property
    def failures(self) -> list[Request]:
        return [r for r in self.dicomweb() if r.status >= 400]


class ViewerError(RuntimeError):
    """The viewer did not show the study (not found, error page, or no image within the timeout)."""


@dataclass(frozen=True)
class Signin:
    """How a browser context gets signed in before the clock starts."""

    token: str

    def inject(self, context: BrowserContext) -> None:
        # The header rides inside Chromium's network stack: no round trip to Python per request.
        context.set_extra_http_headers({"Authorization": f"Bearer {self.token}"})


def warm_up(browser: Browser, site: str, signin: Signin, timeout_ms: float = 60_000) -> None:
    """Load OHIF's study list once (untimed): the browser and the site's static files are warm afterwards.

    Only the study list's query reaches the DICOMweb server, so the first open of the study still
    finds the server's caches for it cold.
    """
    context = browser.new_context(viewport=VIEWPORT, ignore_https_errors=True)
    try:
        signin.inject(context)
        page = context.new_page()
        with page.expect_response(lambda response: "/dicom/studies?" in response.url, timeout=timeout_ms):
            page.goto(f"{site}/browse/", wait_until="commit", timeout=timeout_ms)
    finally:
        context.close()


def open_study(browser: Browser, site: str, study_uid: str, signin: Signin, timeout_ms: float = 60_000) -> Open:
    """Open `site`/browse/viewer?StudyInstanceUIDs=... in a fresh context; return when the image shows."""
    context = browser.new_context(viewport=VIEWPORT, ignore_https_errors=True)
    try:
        signin.inject(context)
        context.add_init_script(PROBE)
        page = context.new_page()
        ohif_timings: list[float] = []

        def console(message: ConsoleMessage) -> None:
            if match := OHIF_TIMING.match(message.text):
                ohif_timings.append(float(match.group(1)))

        page.on("console", console)
        page.goto(f"{site}/browse/viewer?StudyInstanceUIDs={study_uid}", wait_until="commit", timeout=timeout_ms)
        try:
            page.wait_for_function("window.__slicerwebBench && window.__slicerwebBench.firstImage !== null",
                                   timeout=timeout_ms, polling=100)
        except Exception as exc:  # Playwright's TimeoutError; report where the viewer stood
            raise ViewerError(f"no image within {timeout_ms / 1000:.0f} s at {page.url}") from exc
        page.wait_for_timeout(200)  # let responses that were in flight at the first image land in the timing buffer
        found = page.evaluate(COLLECT)
        if "notfound" in found["path"]:
            raise ViewerError(f"OHIF showed {found['path']}")
        requests = [Request(r["url"], r["start"], r["end"], int(r["status"])) for r in found["requests"]]
        return Open(float(found["firstImage"]), float(found["timeOrigin"]), requests,
                    ohif_timings[0] if ohif_timings else None)
    finally:
        context.close()
