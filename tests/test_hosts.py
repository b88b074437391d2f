"""Host allow-list (DNS-rebinding protection): unknown Host values are refused before routing."""

from __future__ import annotations

import json
import socket

import pytest

from slicerweb.hosts import host_name
from tests.conftest import start_server


@pytest.mark.parametrize(("raw", "name"), [
    ("127.0.0.1:2016", "127.0.0.1"), ("LocalHost", "localhost"), ("[::1]:2016", "[::1]"), ("[::1]", "[::1]"),
    ("slicer.hospital.lan", "slicer.hospital.lan")])
def test_host_name(raw, name):
    assert host_name(raw) == name


@pytest.mark.parametrize("host", ["127.0.0.1:2016", "localhost:8080", "[::1]:2016", "localhost"])
async def test_loopback_hosts_pass(make_app, host):
    client = make_app()[0].test_client()
    assert (await client.get("/slicer/system/version", headers={"Host": host})).status_code == 200


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:2016", "127.0.0.1.nip.io", ""])
async def test_rebinding_hosts_are_refused(make_app, host):
    client = make_app()[0].test_client()
    response = await client.get("/slicer/system/version", headers={"Host": host})
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    assert (await response.get_json())["code"] == "host_not_allowed"


async def test_configured_host(make_app, make_policy):
    client = make_app(make_policy(server__allowed_hosts=["slicer.hospital.lan"]))[0].test_client()
    assert (await client.get("/", headers={"Host": "slicer.hospital.lan"})).status_code == 200
    refused = await client.get("/", headers={"Host": "127.0.0.1"})
    assert refused.status_code == 403 and (await refused.get_json())["code"] == "host_not_allowed"


def raw_exchange(url: str, request: bytes) -> bytes:
    """Send `request` as bytes (clients normalise request lines) and read until the server closes."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = start_server(tmp_path_factory.mktemp("hosts"))
    yield live
    live.stop()


@pytest.mark.parametrize("target", [b"http://evil.example/slicer/system/version",
                                    b"http://evil.example:80/", b"https://attacker.example/index.html"])
def test_absolute_form_is_judged_by_its_authority(server, target):
    """RFC 9112 §3.2.2: with an absolute-form target the Host header is ignored; the URI's authority counts."""
    answer = raw_exchange(server.url, b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 403 ") and b"content-type: application/json" in head.lower()
    assert json.loads(body)["code"] == "host_not_allowed"


def test_absolute_form_with_an_allowed_authority_is_served(server):
    answer = raw_exchange(server.url, b"GET http://localhost/slicer/system/version HTTP/1.1\r\n"
                                      b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and json.loads(body)["applicationName"] == "SlicerWeb"
    bad = raw_exchange(server.url, b"GET http:///slicer/system/version HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                   b"Connection: close\r\n\r\n")
    head, _, body = bad.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and json.loads(body)["code"] == "bad_request_target"


@pytest.mark.parametrize("version", [b"9.9", b"2.0", b"0.9"])
def test_unknown_http_versions_get_505_and_a_close(server, version):
    answer = raw_exchange(server.url, b"GET /slicer/system/version HTTP/" + version + b"\r\nHost: 127.0.0.1\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 505 ") and json.loads(body)["code"] == "http_version_not_supported"
    ok = raw_exchange(server.url, b"GET /slicer/system/version HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                                  b"Connection: close\r\n\r\n")
    assert ok.startswith(b"HTTP/1.1 200 ")
