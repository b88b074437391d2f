"""The OHIF benchmark harness itself (bench/ohif, bench/ohifbench): what it counts, not how fast anything is.

No timing is asserted. Parsing of the proxy's timing log (bearer-check subrequests folded into their
request), the critical-path choice, the nginx template variant (and that drift in proxy/nginx is
reported, not silently measured wrong), Orthanc's DICOMweb root, the table's ratio column, and one
real open of a tiny study through nginx with a signed token, clicked in OHIF's study list: OHIF
paints an image, every DICOMweb request it sent was bearer-checked and answered, the critical path
is the chain it waited on, and replaying it without the browser gets the same answers.
"""

from __future__ import annotations

import base64
import json
import math
import shutil
import ssl
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from tests.test_ohif_browser import launched_chromium

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from ohifbench.edge import APP_PASS, PROXY_SNIPPET, TemplateDrift, front_templates
from ohifbench.fronts import FrontedOrthanc, start_slicerweb
from ohifbench.replay import critical_requests, replay
from ohifbench.report import SiteFigures, p90, render, verdict
from ohifbench.signin import AUDIENCE, READER, start_bench_issuer
from ohifbench.study import bench_study
from ohifbench.timeline import parse_line, read_log, server_share
from ohifbench.viewer import Open, Request, open_study

from slicerweb.devstack.demo_stack import origin_of
from slicerweb.devstack.proxyconf import PROXY_DIR
from slicerweb.devstack.stack import free_port
from tests.conftest import REPO

META = "/dicom/studies/1.2/series/1.3/metadata"
LOG = f"""\
100.000 0.003 "0.002" 204 GET aa /_slicerweb_auth
100.010 0.012 "0.008" 200 GET aa /dicom/studies
100.020 0.004 "0.003" 200 GET bb /browse/app.js
100.030 0.002 "0.001" 204 GET cc /_slicerweb_auth
100.050 0.030 "0.020" 200 GET cc {META}
100.070 0.009 "0.005, 0.001" 200 GET dd /dicom/studies/1.2/series/1.3/instances/1.4/frames/1
100.060 0.009 "0.004" 200 GET ee /dicom/studies/1.2/series/1.3/instances/1.5/frames/1
100.900 0.009 "0.004" 200 GET ff /dicom/studies/1.2/series/1.3/instances/1.6/frames/1
100.100 0.300 "0.290" 499 GET gg /dicom/studies/1.2/series/1.3/instances/1.7/frames/1
not a line of ours
"""


def test_log_lines_carry_their_bearer_check_and_the_critical_path_is_queries_then_one_frame(tmp_path: Path) -> None:
    log = tmp_path / "bench-timing.log"
    log.write_text(LOG)
    lines = read_log(log)
    assert [line.request_id for line in lines] == ["aa", "bb", "cc", "dd", "ee", "ff", "gg"]
    metadata = lines[2]
    assert metadata.path == META and metadata.upstream == pytest.approx(0.020)
    assert metadata.verify == pytest.approx(0.001) and metadata.server == pytest.approx(0.021)
    assert lines[3].upstream == pytest.approx(0.006)   # two upstream tries are summed
    share = server_share(lines, start_epoch=100.0, image_epoch=100.5)
    # study QIDO, metadata, and the frame that ended first (ee); not the static file, not the late frame,
    # not gg, a frame of the previous open that was still finishing when this one began.
    assert [line.request_id for line in share.critical] == ["aa", "cc", "ee"]
    assert share.critical_sum_ms == pytest.approx(2 + 8 + 1 + 20 + 4)
    assert share.critical_verify_ms == pytest.approx(3)
    assert share.all_before_ms == pytest.approx(share.critical_sum_ms + 6)
    # Wall time: aa's check [99.998, 100.000], aa [100.002, 100.010], cc's check [100.029, 100.030],
    # metadata [100.030, 100.050], ee [100.056, 100.060]: 2 + 8 + 1 + 20 + 4 ms, no overlap here ...
    assert share.critical_ms == pytest.approx(35)
    # ... and two requests served at the same time count once.
    overlapping = server_share([*lines, replace(lines[0], request_id="a2")], 100.0, 100.5)
    assert overlapping.critical_sum_ms == pytest.approx(45) and overlapping.critical_ms == pytest.approx(35)
    assert parse_line("not a line of ours") is None


def test_template_variant_swaps_only_the_dicom_upstream_and_reports_drift(tmp_path: Path) -> None:
    variant = front_templates(tmp_path / "orthanc", "127.0.0.1:4242")
    snippet = (variant / PROXY_SNIPPET).read_text()
    assert APP_PASS not in snippet and "proxy_pass http://$bench_upstream;" in snippet
    main = (variant / "slicerweb.conf.template").read_text()
    assert "server 127.0.0.1:4242;" in main and "~^/dicom/      bench_dicomweb;" in main
    assert "log_subrequest on;" in main
    # The CSP (with the issuer's origin, i11-stack) is still templated from the copied snippet.
    assert 'add_header Content-Security-Policy "{{CSP}}" always;' in (
        variant / "snippets" / "security-headers.conf").read_text()
    assert "server {{APP_UPSTREAM}};" in (front_templates(tmp_path / "own") / "slicerweb.conf.template").read_text()
    drifted = tmp_path / "drifted"
    shutil.copytree(PROXY_DIR / "nginx", drifted)
    (drifted / PROXY_SNIPPET).write_text("proxy_pass http://elsewhere;\n")
    with pytest.raises(TemplateDrift, match="expected exactly one"):
        front_templates(tmp_path / "x", source=drifted)


def test_orthanc_answers_dicomweb_at_the_same_root_under_the_public_https_name(tmp_path: Path) -> None:
    config = FrontedOrthanc(tmp_path, public_host="localhost:8443").config()
    dicomweb = config["DicomWeb"]
    assert isinstance(dicomweb, dict)
    assert dicomweb["Root"] == "/dicom/" and dicomweb["Host"] == "localhost:8443" and dicomweb["Ssl"] is True
    assert dicomweb["SeriesMetadata"] == "Full" and config["RemoteAccessAllowed"] is False


def test_open_counts_dicomweb_requests_sent_before_the_image_and_failures() -> None:
    requests = [Request("https://h/browse/app.js", 1, 50, 200), Request("https://h/dicom/studies?x=1", 400, 420, 200),
                Request("https://h/dicom/studies/1/series/2/metadata", 430, 480, 200),
                Request("https://h/dicom/studies/1/series/2/instances/3/frames/1", 490, 520, 403),
                Request("https://h/dicom/studies/1/series/2/instances/4/frames/1", 900, 950, 200)]
    sent = [("https://h/dicom/studies?x=1", 400), ("https://h/browse/x.json", 405), (META, 430), ("/dicom/f1", 490),
            ("/dicom/f2", 590), ("/dicom/f3", 650)]   # f2 still in flight at the image: counted as sent
    opened = Open(first_image_ms=600, time_origin_ms=0, requests=requests, sent=sent)
    assert opened.study_start_ms == 400 and opened.requests_before_image == 4
    assert [r.status for r in opened.failures] == [403]
    assert critical_requests(opened) == requests[1:4]
    # Opened from the study list at 420 ms: the list's own query (at 400) is not the study's.
    clicked = Open(first_image_ms=600, time_origin_ms=0, requests=requests, opened_ms=420, sent=sent)
    assert clicked.to_image_ms == 180 and clicked.study_start_ms == 430 and clicked.requests_before_image == 3
    assert Open(600, 1_000_000, opened_ms=420).window_epochs() == (1000.42, 1000.6)   # both from navigation start


def test_table_gives_the_ratio_of_medians_and_the_goal_verdict() -> None:
    ours = SiteFigures("SlicerWeb", "SlicerWeb 0", opens=[Open(1000, 0), Open(1200, 0), Open(1100, 0)])
    theirs = SiteFigures("Orthanc", "Orthanc 1.10", opens=[Open(2200, 0)], error="")
    table = render(ours, theirs)
    row = next(line for line in table.splitlines() if line.startswith("first image after opening the study"))
    assert "1100 / 1200" in row and "2200 / 2200" in row and row.split()[-1] == "0.50"
    assert "first image no later than Orthanc's: met (1100 vs 2200 ms)" in verdict(ours, theirs)
    assert "server share under 50 ms: not measured" in verdict(ours, theirs)
    assert p90([5, 1, 4, 2, 3, 6, 7, 8, 9, 10]) == 9 and math.isnan(p90([]))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched_chromium() as instance:
        yield instance


def claims(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@pytest.mark.proxy
@pytest.mark.browser
def test_one_open_of_a_tiny_study_through_nginx_after_signing_in(tmp_path: Path, browser: Browser) -> None:
    """bench/ohif's SlicerWeb site on 3 slices of 64²: sign-in, then the image shows; figures from real requests."""
    if not (REPO / "docroot" / "browse" / "index.html").is_file():
        pytest.skip("OHIF not installed (deploy/fetch-ohif); tests/test_ohif_browser.py installs it")
    study = bench_study(tmp_path / "study", slices=3, matrix=64)
    port = free_port()
    issuer = start_bench_issuer(tmp_path / "issuer", [port])
    try:
        front = start_slicerweb(tmp_path / "site", study, issuer, port)
        try:
            signin = issuer.signin
            opened = open_study(browser, front.stack.url, study.study_uid, signin, row_text=study.patient_label)
            lines = read_log(front.timing_log)
            replayed = replay(critical_requests(opened), signin.token, front.stack.certs.ca_cert, rounds=1)
            csp = httpx.get(f"{front.stack.url}/browse/", timeout=10,
                            verify=ssl.create_default_context(cafile=str(front.stack.certs.ca_cert))
                            ).headers["content-security-policy"]
        finally:
            front.stop()
    finally:
        issuer.stop()
    # The token OHIF used came from the login form: the reader's, read-only, no static scope needed.
    token = claims(signin.token)
    assert token["sub"] == READER and token["aud"] == AUDIENCE and token["iss"] == issuer.url
    assert "dicomweb.read" in str(token["scope"]).split() and "slicerweb.static" not in str(token["scope"])
    assert origin_of(issuer.url) in csp.split("connect-src", 1)[1].split(";")[0]
    assert opened.first_image_ms > opened.study_start_ms > opened.opened_ms > 0   # clicked in the study list
    assert opened.requests_before_image >= 4 and not opened.failures
    assert opened.ohif_study_to_image_ms is not None
    dicomweb = [line for line in lines if line.is_dicomweb]
    assert dicomweb and all(line.status == 200 and line.verify > 0 for line in dicomweb)
    share = server_share(lines, *opened.window_epochs())
    assert all(line.end <= opened.window_epochs()[1] + 0.002 for line in share.before_image)
    paths = [line.path for line in share.critical]
    assert "/dicom/studies" in paths and any(p.endswith("/metadata") for p in paths)
    assert sum("/frames/" in p for p in paths) == 1 and share.critical_ms > 0
    assert len(replayed) == 1 and replayed[0] > 0   # every replayed request answered 200 (else it raises)
