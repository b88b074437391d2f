"""OHIF in headless Chromium (Debian's /usr/bin/chromium via Playwright): open a study, time the first image.

Each open is a fresh browser context (empty HTTP cache, like a new reading session) that signs in
before the clock starts: OHIF sends it to the issuer's login page, the form is filled and submitted
(`signin.Signin`), and OHIF comes back to its study list with the reader's token. Two ways to open
the study:

- `worklist` (default): on the study list sign-in lands on (untimed), the study's row is clicked, then its
  "Basic Viewer" button; the clock starts at that click (the app has booted, as for a reader);
- `link`: a deep link /browse/viewer?StudyInstanceUIDs=...; the clock starts at navigation, so
  OHIF's boot (the same JavaScript for both servers) is inside the figure.

A probe installed before any page script stamps the last click (capture phase), polls the first
viewport canvas (`canvas.cornerstone-canvas`) on every animation frame, scaled down to 48x48, and
stamps `firstImage` when it first holds an image: a real range of grey levels over part of it (the
rule of tests/test_ohif_browser.py); resolution one frame (~16 ms), for both servers alike. It
records every XHR/fetch as it is sent (to count requests sent before the image, answered or not),
and enlarges the Resource Timing buffer so every completed request is kept (start, end, status). OHIF's own
`studyToFirstImage` console timing is kept as a cross-check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from playwright.sync_api import Browser, ConsoleMessage, Page
from playwright.sync_api import Error as PlaywrightError

from .signin import Signin, SigninError

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}
OHIF_TIMING = re.compile(r"^studyToFirstImage: ([0-9.]+) ms")
OPEN_BUTTON = "Basic Viewer"   # OHIF's longitudinal mode, whose route is /viewer
WAYS = ("worklist", "link")

PROBE = """(() => {
  performance.setResourceTimingBufferSize(10000);
  const probe = window.__slicerwebBench = {firstImage: null, click: 0, sent: []};
  // Requests as they are sent (Resource Timing lists a request only once it has completed).
  const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    this.__benchUrl = String(url); return open.call(this, method, url, ...rest);
  };
  XMLHttpRequest.prototype.send = function (...args) {
    probe.sent.push({url: this.__benchUrl, t: performance.now()}); return send.apply(this, args);
  };
  const fetchOriginal = window.fetch;
  window.fetch = function (input, ...rest) {
    probe.sent.push({url: String(input && input.url || input), t: performance.now()});
    return fetchOriginal.call(this, input, ...rest);
  };
  document.addEventListener('click', () => { probe.click = performance.now(); }, true);
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
  click: window.__slicerwebBench.click,
  sent: window.__slicerwebBench.sent,
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
    """One timed open of a study (times in ms since navigation start)."""

    first_image_ms: float           # the first image on screen
    time_origin_ms: float           # epoch ms of navigation start (to align with the proxy's log)
    requests: list[Request] = field(default_factory=list)
    ohif_study_to_image_ms: float | None = None   # OHIF's own console timing, as a cross-check
    opened_ms: float = 0.0          # the click that opened the study (0: a deep link, navigation start)
    sent: list[tuple[str, float]] = field(default_factory=list)   # (url, ms) of every XHR/fetch as it was sent

    @property
    def to_image_ms(self) -> float:
        """From opening the study to its first image: the headline figure."""
        return self.first_image_ms - self.opened_ms

    def window_epochs(self) -> tuple[float, float]:
        """(opened, first image) as epoch seconds, to cut the proxy's log."""
        return (self.time_origin_ms + self.opened_ms) / 1000, (self.time_origin_ms + self.first_image_ms) / 1000

    def dicomweb(self) -> list[Request]:
        """DICOMweb requests made for this study (after it was opened)."""
        return [r for r in self.requests
                if ("/dicom/" in r.url or "/dicom?" in r.url) and r.start >= self.opened_ms]

    @property
    def study_start_ms(self) -> float:
        """When OHIF sent its first DICOMweb request for the study."""
        return min((r.start for r in self.dicomweb()), default=self.first_image_ms)

    @property
    def requests_before_image(self) -> int:
        """DICOMweb requests sent between opening the study and its first image (answered or not)."""
        return sum(1 for url, at in self.sent
                   if ("/dicom/" in url or "/dicom?" in url) and self.opened_ms <= at < self.first_image_ms)

    @property
    def failures(self) -> list[Request]:
        return [r for r in self.dicomweb() if r.status >= 400]


class ViewerError(RuntimeError):
    """The viewer did not show the study (not found, error page, or no image within the timeout)."""


def warm_up(browser: Browser, site: str, signin: Signin, timeout_ms: float = 60_000) -> None:
    """Sign in and load OHIF's study list once (untimed): the browser, the site's static files and the issuer
    are warm afterwards.

    Only the study list's query reaches the DICOMweb server, so the first open of the study still
    finds the server's caches for it cold.
    """
    context = browser.new_context(viewport=VIEWPORT, ignore_https_errors=True)
    try:
        signin.sign_in(context.new_page(), site, timeout_ms)
    finally:
        context.close()


def _open_from_worklist(page: Page, row_text: str, timeout_ms: float) -> None:
    page.get_by_text(row_text, exact=True).first.click(timeout=timeout_ms)
    page.get_by_role("button", name=OPEN_BUTTON, exact=True).first.click(timeout=timeout_ms)


def open_study(browser: Browser, site: str, study_uid: str, signin: Signin, *, way: str = "worklist",
               row_text: str = "", timeout_ms: float = 60_000) -> Open:
    """Sign in, then open the study (`way`: worklist row `row_text` or deep link) in a fresh context; return at its
    first image."""
    context = browser.new_context(viewport=VIEWPORT, ignore_https_errors=True)
    try:
        context.add_init_script(PROBE)
        page = context.new_page()
        ohif_timings: list[float] = []

        def console(message: ConsoleMessage) -> None:
            if match := OHIF_TIMING.match(message.text):
                ohif_timings.append(float(match.group(1)))

        page.on("console", console)
        try:
            signin.sign_in(page, site, timeout_ms)   # lands on the study list, before the clock starts
            if way == "worklist":
                _open_from_worklist(page, row_text, timeout_ms)
            else:   # same tab: OHIF keeps the signed-in user in its session storage
                page.goto(f"{site}/browse/viewer?StudyInstanceUIDs={study_uid}", wait_until="commit",
                          timeout=timeout_ms)
            page.wait_for_function("window.__slicerwebBench && window.__slicerwebBench.firstImage !== null",
                                   timeout=timeout_ms, polling=100)
        except SigninError as exc:
            raise ViewerError(str(exc)) from exc
        except PlaywrightError as exc:  # a timeout, mostly; report where the viewer stood
            raise ViewerError(f"no image within {timeout_ms / 1000:.0f} s at {page.url}: {exc.message[:200]}") from exc
        page.wait_for_timeout(200)  # let responses that were in flight at the first image land in the timing buffer
        found = page.evaluate(COLLECT)
        if "notfound" in found["path"]:
            raise ViewerError(f"OHIF showed {found['path']}")
        requests = [Request(r["url"], r["start"], r["end"], int(r["status"])) for r in found["requests"]]
        return Open(float(found["firstImage"]), float(found["timeOrigin"]), requests,
                    ohif_timings[0] if ohif_timings else None, float(found["click"]) if way == "worklist" else 0.0,
                    [(str(sent["url"]), float(sent["t"])) for sent in found["sent"]])
    finally:
        context.close()
