"""The critical-path requests of a browser open, replayed without the browser: the server side alone.

In a page load the browser (JavaScript, decoding, software WebGL) competes with the servers for
the same CPUs, which inflates server times. Replaying the same requests (same URLs, Accept headers
as OHIF sends them, the same bearer token) one after another through the same nginx shows what
they cost when nothing else runs: the sum of their client-side latencies, per round.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from .viewer import Open, Request

JSON = "application/dicom+json"
FRAME = "multipart/related; type=application/octet-stream; transfer-syntax=*"


def path_of(request: Request) -> str:
    return urlsplit(request.url).path


def critical_requests(opened: Open) -> list[Request]:
    """DICOMweb requests that ended before the first image, frames reduced to the first to end."""
    before = [r for r in opened.dicomweb() if r.end <= opened.first_image_ms]
    frames = sorted((r for r in before if "/frames/" in path_of(r)), key=lambda r: r.end)
    return [r for r in before if "/frames/" not in path_of(r)] + frames[:1]


def replay(requests: list[Request], token: str, ca_file: Path, rounds: int = 5) -> list[float]:
    """Per round, the summed latency (ms) of `requests` sent one by one on one keep-alive connection."""
    totals: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    context = ssl.create_default_context(cafile=str(ca_file))
    with httpx.Client(verify=context, timeout=60, headers=headers) as client:
        for _ in range(rounds + 1):   # the first round warms the connection and is dropped
            total = 0.0
            for request in requests:
                accept = FRAME if "/frames/" in path_of(request) else JSON
                started = time.perf_counter()
                response = client.get(request.url, headers={"Accept": accept})
                response.read()
                total += time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(f"replay: HTTP {response.status_code} for {path_of(request)}")
            totals.append(1000 * total)
    return totals[1:]
