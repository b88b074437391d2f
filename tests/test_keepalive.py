"""A keep-alive client survives refusals that leave the request body unread: the server says
`Connection: close` (so the client opens a new connection) instead of silently dropping it."""

from __future__ import annotations

import time
from collections.abc import Iterator


def slow_body(chunks: int = 5) -> Iterator[bytes]:
    """A body still arriving when the server has already answered (as any large upload is)."""
    for _ in range(chunks):
        yield b"x" * 1000
        time.sleep(0.05)


def test_refused_uploads_do_not_break_keep_alive_clients(live_server):
    server = live_server()
    with server.client() as http:
        for _ in range(10):
            refused = http.post("/slicer/exec", content=slow_body())  # exec off: 403 before reading
            assert refused.status_code == 403
            assert refused.headers["connection"] == "close"
            assert http.put("/admin/features/nope", json={"enabled": True}).status_code == 404
            assert http.get("/slicer/system/version").status_code == 200


def test_quick_refusals_in_a_row(live_server):
    server = live_server()
    with server.client() as http:
        for _ in range(30):
            assert http.post("/slicer/exec", content=b"x" * 4000).status_code == 403
            assert http.put("/admin/features/exec", json={"enabled": False}).status_code == 200


def test_read_bodies_keep_the_connection(live_server):
    server = live_server()
    with server.client() as http:
        response = http.put("/admin/features/dicomweb", json={"enabled": True})
        assert response.status_code == 200
        assert response.headers.get("connection") != "close"


def test_admitted_upload_refused_early_is_read_to_the_end(live_server):
    """A bad STOW body (no multipart boundary) is refused at once, but the rest of the upload is read,
    so a proxy forwarding it delivers the 400 (Caddy answered 502 "broken pipe") and keep-alive holds."""
    server = live_server(policy_toml="[features]\ndicomweb_write = true\n")
    with server.client() as http:
        response = http.post("/dicom/studies", content=b"\0" * (3 << 20),
                             headers={"Content-Type": 'multipart/related; type="application/dicom"'})
        assert response.status_code == 400
        assert response.headers.get("connection") != "close"
        assert http.get("/slicer/system/version").status_code == 200
