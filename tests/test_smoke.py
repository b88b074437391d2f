"""The README's promise: a served instance answers the Slicer liveness probe and the docroot."""

from __future__ import annotations


def test_live_server_answers_version_and_index(live_server):
    server = live_server()
    with server.client() as http:
        version = http.get("/slicer/system/version")
        assert version.status_code == 200
        assert version.headers["content-type"] == "application/json"
        assert version.json()["applicationName"] == "SlicerWeb"
        index = http.get("/")
        assert index.status_code == 200
        assert "SlicerWeb" in index.text
