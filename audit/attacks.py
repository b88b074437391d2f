"""Attack corpus, sent to the app directly and through nginx and Caddy: forged tokens (the catalogue of
tests/oidc.py), traversal probes as raw bytes, oversized and hostile bodies and headers, the Warning
header flood, the failure limiter against a valid token, and peak RSS of hostile requests."""

from __future__ import annotations

import bz2
import gzip
import io
import time

import httpx
from pydicom import Dataset

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.limits import REQUEST_WORKING_BYTES
from tests.oidc import bad_tokens

from .environment import AUDIT_MAX_VOLUME_BYTES, Environment
from .report import Case, Report
from .wire import RawResponse, Target, get, raw_request, reset_peak, rss_kib

AREA = "attacks"
TRAVERSAL = ("/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/browse/..%2f..%2f..%2fetc%2fpasswd",
             "/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/..%5c..%5c..%5cetc%5cpasswd", "//etc/passwd",
             "/..;/..;/etc/passwd", "/%252e%252e/%252e%252e/etc/passwd", "/index.html/../../../etc/passwd",
             "/./.././../etc/passwd", "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", "/dicom/../../etc/passwd",
             "/slicer/../../etc/passwd", "/%2e%2e%00/etc/passwd", "/static/%2e%2e/%2e%2e/etc/shadow")
SECRET_MARKERS = (b"root:x:0:0", b"root:*:", b"daemon:")
# Per hostile request, in growth of the app's peak RSS (VmHWM): the documented bound (policies/README.md,
# "Memory per request"): the working constant plus, for a request that creates a volume, the volume limit.
HOSTILE_RSS_BOUND_MIB = (REQUEST_WORKING_BYTES + AUDIT_MAX_VOLUME_BYTES) >> 20


def run(env: Environment, report: Report, *, quick: bool) -> None:
    for target in env.targets():
        _forged_tokens(env, target, report)
        _traversal(env, target, report)
        _oversized(env, target, report)
    app = env.front("app")
    assert app is not None
    _warning_flood(env, app, report)
    _failure_limiter(env, app, report)
    _hostile_rss(env, app, report, quick=quick)


def _forged_tokens(env: Environment, target: Target, report: Report) -> None:
    catalogue = bad_tokens(env.issuer, "slicer.read slicer.write slicerweb.admin")
    statuses: dict[str, int] = {}
    with target.client() as client:
        for name, make in catalogue.items():
            statuses[name] = client.get("/slicer/system/version",
                                        headers={"Authorization": f"Bearer {make()}"}).status_code
        no_token = client.get("/slicer/system/version").status_code
        in_query = client.get("/slicer/system/version", params={"access_token": env.token()}).status_code
        valid = client.get("/slicer/system/version", headers={"Authorization": f"Bearer {env.token()}"}).status_code
    accepted = sorted(name for name, status in statuses.items() if status < 400)
    report.add(Case(AREA, f"{target.name}: forged tokens ({len(catalogue)} kinds)", "401 for every one",
                    f"accepted: {accepted or 'none'}; statuses {sorted(set(statuses.values()))}",
                    len(catalogue), passed=not accepted and set(statuses.values()) == {401}))
    report.add(Case(AREA, f"{target.name}: no token / token in the query / valid token", "401 / 400 / 200",
                    f"{no_token} / {in_query} / {valid}", 3, passed=(no_token, in_query, valid) == (401, 400, 200)))


def _traversal(env: Environment, target: Target, report: Report) -> None:
    token = env.token()
    escapes, statuses = [], []
    for path in TRAVERSAL:
        response = get(target, path, token)
        statuses.append(response.status)
        if any(marker in response.body for marker in SECRET_MARKERS):
            escapes.append(path)
    server_errors = [p for p, s in zip(TRAVERSAL, statuses, strict=True) if s >= 500 or s == 0]
    report.add(Case(AREA, f"{target.name}: traversal probes (raw bytes, valid token)",
                    "no file outside the docroot served; 4xx, no 5xx",
                    f"escapes: {escapes or 'none'}; statuses {sorted(set(statuses))}", len(TRAVERSAL),
                    passed=not escapes and not server_errors))


def _oversized(env: Environment, target: Target, report: Report) -> None:
    token = env.token()
    cases = (
        ("exec body of 1 MiB (exec off)", get(target, "/slicer/exec", token, method="POST", body=b"x" * (1 << 20)),
         (403, 413)),
        ("admin body of 2 MiB", get(target, "/admin/features/exec", token, method="PUT",
                                    body=b'{"enabled": false, "x": "' + b"a" * (2 << 20) + b'"}'), (413,)),
        ("/slicer/gui body of 2 MiB", get(target, "/slicer/gui", token, method="POST", body=b"y" * (2 << 20)),
         (413,)),
        ("Content-Length 10 GB on an upload", get(target, "/slicer/volume", token, method="POST",
                                                  extra_headers="Content-Length: 10000000000\r\n"), (413,)),
        ("one 100 KiB header", get(target, "/slicer/system/version", token,
                                   extra_headers="X-Big: " + "h" * 100_000 + "\r\n"), (400, 413, 431, 494)),
        ("HTTP/9.9 request line", _request_line(target, "GET /slicer/system/version HTTP/9.9"), (400, 505)),
        ("TRACE method", get(target, "/slicer/system/version", token, method="TRACE"), (405, 400, 501)),
    )
    for name, response, expected in cases:
        ok = response.status in expected
        open_key = "protocol.http_9_9" if "HTTP/9.9" in name and target.name == "app" else None
        report.add(Case(AREA, f"{target.name}: {name}", " or ".join(map(str, expected)),
                        str(response.status or "no answer"), passed=ok, open_key=open_key))


def _request_line(target: Target, line: str) -> RawResponse:
    return raw_request(target, f"{line}\r\nHost: {target.server_name}\r\nConnection: close\r\n\r\n".encode())


def _stow(target: Target, token: str, parts: list[bytes]) -> RawResponse:
    boundary = "auditb0undary"
    body = b"".join(b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + p + b"\r\n"
                    for p in parts) + b"--" + boundary.encode() + b"--\r\n"
    return get(target, "/dicom/studies", token, method="POST", body=body,
               extra_headers=f'Content-Type: multipart/related; type="application/dicom"; boundary={boundary}\r\n')


def _warning_flood(env: Environment, target: Target, report: Report) -> None:
    response = _stow(target, env.token(), [b"not dicom %d" % i for i in range(101)])
    warnings = response.header_count("Warning")
    report.add(Case(AREA, "app: STOW of 101 unreadable parts", "409; Warning folded into at most one header",
                    f"{response.status} with {warnings} Warning headers",
                    passed=response.status == 409 and warnings <= 1,
                    open_key="stow.warning_headers"))


def _failure_limiter(env: Environment, target: Target, report: Report) -> None:
    transport = httpx.HTTPTransport(local_address="127.0.0.9")
    with httpx.Client(base_url=target.url, transport=transport, timeout=30) as client:
        for _ in range(40):
            client.get("/slicer/system/version", headers={"Authorization": "Bearer forged.token.x"})
        bad = client.get("/slicer/system/version", headers={"Authorization": "Bearer forged.token.x"}).status_code
        valid = client.get("/slicer/system/version", headers={"Authorization": f"Bearer {env.token()}"}).status_code
    report.add(Case(AREA, "app: valid token after 41 failed tokens from its address",
                    "unverified attempts 429, the valid token 200", f"bad {bad}, valid {valid}", 42,
                    passed=valid == 200, open_key="auth.limiter_locks_valid"))


def _hostile_rss(env: Environment, target: Target, report: Report, *, quick: bool) -> None:
    """Growth of the app's peak RSS (VmHWM) caused by each hostile request, smallest first."""
    assert target.pid is not None
    token = env.token()
    size = 64 << 20
    nrrd_head = b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 1024 1024 1024\nencoding: %s\n\n"  # claims 1 GiB
    side, repeats = (256, 200) if quick else (512, 1000)
    instance = generate_study(77, series_count=1, instances_per_series=1, rows=side, columns=side)[0]
    stored = _stow(target, token, [_part10(instance)])
    frame_url = (f"/dicom/studies/{instance.StudyInstanceUID}/series/{instance.SeriesInstanceUID}/instances/"
                 f"{instance.SOPInstanceUID}/frames/" + ",".join(["1"] * repeats))
    hostile = (
        ("NRRD gzip bomb (64 kB body inflating to 64 MiB, header claims 1 GiB)", "nrrd.gzip_bomb",
         lambda: get(target, "/slicer/volume", token, method="POST", body=(nrrd_head % b"gzip") + gzip.compress(
             bytes(size)))),
        ("NRRD bzip2 bomb (45 B body inflating to 64 MiB, header claims 1 GiB)", "nrrd.bzip2_bomb",
         lambda: get(target, "/slicer/volume", token, method="POST", body=(nrrd_head % b"bzip2") + bz2.compress(
             bytes(size)))),
        (f"frames list: one {side}x{side} frame x{repeats}", "wado.frame_list",
         lambda: get(target, frame_url, token, extra_headers="Accept: multipart/related; "
                                                             "type=application/octet-stream\r\n")),
    )
    report.note(AREA, f"hostile requests: bound {HOSTILE_RSS_BOUND_MIB} MiB growth of the app's peak RSS "
                      f"(VmHWM after a reset, minus VmRSS before) per request; setup STOW answered {stored.status}")
    for name, open_key, send in hostile:
        reset_peak(target.pid)  # else a larger earlier peak would hide this request's
        before = rss_kib(target.pid, "VmRSS")
        started = time.monotonic()
        response = send()
        growth = (rss_kib(target.pid, "VmHWM") - before) / 1024
        bomb = name.startswith("NRRD")
        ok = growth <= HOSTILE_RSS_BOUND_MIB and (400 <= response.status < 500 if bomb else response.status < 500)
        expected = "4xx (ratio/volume limit)" if bomb else "an answer within the bound, or 4xx"
        report.add(Case(AREA, f"app: {name}", f"{expected}; peak RSS +<= {HOSTILE_RSS_BOUND_MIB} MiB",
                        f"{response.status or 'no answer'}, peak RSS +{growth:.0f} MiB, "
                        f"{time.monotonic() - started:.1f} s", passed=ok, open_key=open_key))


def _part10(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
