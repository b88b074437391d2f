"""Access log: one JSON object per request with request id, status and bytes; no query strings; off on request."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.conftest import LiveServer


def access_lines(log: str) -> list[dict[str, Any]]:
    """The access lines among the console's (which are JSON lines too when stderr is not a terminal)."""
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line for line in lines if "request_id" in line]


def test_access_log_lines_are_json(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    with server.client() as http:
        response = http.get("/dicom/studies", params={"PatientName": "Doe^Jane"}, headers={"X-Request-ID": "abc-123"})
        assert response.headers["X-Request-ID"] == "abc-123"
        http.get("/nope")
    server.stop()
    lines = access_lines(server.log())
    first = next(line for line in lines if line["request_id"] == "abc-123")
    assert first["method"] == "GET" and first["path"] == "/dicom/studies" and first["status"] in (200, 204)
    assert first["client"] == "127.0.0.1" and isinstance(first["ms"], float)
    assert "Doe" not in server.log()  # query strings (patient names) stay out of the log
    assert any(line["path"] == "/nope" and line["status"] == 404 for line in lines)


def test_access_log_can_be_turned_off(live_server: Callable[..., LiveServer]) -> None:
    server = live_server(args=["--no-access-log"])
    with server.client() as http:
        http.get("/slicer/system/version")
    server.stop()
    assert access_lines(server.log()) == []


def test_malformed_request_id_is_replaced(live_server: Callable[..., LiveServer]) -> None:
    server = live_server()
    with server.client() as http:
        response = http.get("/", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["X-Request-ID"] != "bad id\twith spaces"
    assert len(response.headers["X-Request-ID"]) == 16
