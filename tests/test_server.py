"""Listening: port 2016 by default, the next free port when taken, loopback unless configured."""

from __future__ import annotations

import socket

import pytest

from slicerweb.server import PortsExhausted, bind


def free_port_pair() -> int:
    """A port P such that P and P+1 are both free right now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 65000 and _free(port) and _free(port + 1):
            return port
    raise RuntimeError("no free port pair")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_bind_takes_the_next_free_port():
    port = free_port_pair()
    first = bind("127.0.0.1", port, 5)
    try:
        second = bind("127.0.0.1", port, 5)
        assert second.getsockname()[1] == port + 1
        second.close()
    finally:
        first.close()


def test_bind_gives_up_after_the_search_range():
    port = free_port_pair()
    first = bind("127.0.0.1", port, 1)
    try:
        with pytest.raises(PortsExhausted, match=f"ports {port}-{port}"):
            bind("127.0.0.1", port, 1)
    finally:
        first.close()


def test_second_instance_serves_on_the_next_port(live_server):
    port = free_port_pair()
    first = live_server(port=port)
    second = live_server(port=port)
    assert first.url == f"http://127.0.0.1:{port}"
    assert second.url == f"http://127.0.0.1:{port + 1}"
    for server in (first, second):
        with server.client() as http:
            assert http.get("/slicer/system/version").json()["applicationName"] == "SlicerWeb"


def test_default_port_is_2016_then_2017(live_server):
    """The documented behaviour with the real default port (run where 2016/2017 are free, as in CI)."""
    if not (_free(2016) and _free(2017)):
        pytest.skip("ports 2016/2017 are in use on this machine")
    first = live_server(port=2016)
    second = live_server(port=2016)
    assert (first.url, second.url) == ("http://127.0.0.1:2016", "http://127.0.0.1:2017")


def test_binds_loopback_by_default(live_server):
    server = live_server()
    assert server.url.startswith("http://127.0.0.1:")


def test_delete_system_stops_the_server(live_server):
    server = live_server()
    with server.client() as http:
        assert http.delete("/slicer/system").json() == {"success": True}
    assert server.process.wait(10) == 0


def test_a_trickled_request_head_is_closed_within_the_read_timeout(live_server):
    """Slow headers (one line every 2 s, each resetting a per-read timer) are cut off at limits.read_timeout,
    counted from the connection's start; a normal client is served meanwhile."""
    server = live_server(policy_toml="[limits]\nread_timeout = 4\n")
    host, port = server.url.split("//", 1)[1].rsplit(":", 1)
    lines_sent = 0
    with socket.create_connection((host, int(port)), timeout=10) as slow, server.client() as http:
        slow.sendall(b"GET /slicer/system/version HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        slow.settimeout(2)
        closed = False
        while lines_sent < 15 and not closed:  # 15 lines = 30 s, far past the 4 s limit
            try:
                closed = slow.recv(4096) == b""
            except TimeoutError:
                try:
                    slow.sendall(b"X-Trickle-%d: x\r\n" % lines_sent)
                except OSError:  # closed between our recv and send
                    closed = True
                lines_sent += 1
                assert http.get("/slicer/system/version").status_code == 200  # others are served
            except ConnectionResetError:
                closed = True
        assert closed, f"the server still waited for the request head after {lines_sent} lines"
    assert lines_sent <= 4  # closed at about 4 s (2 lines), with room for a loaded machine
