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
