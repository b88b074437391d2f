"""systemd notify protocol: a real `slicerweb serve` talks to a real datagram socket as NOTIFY_SOCKET."""

from __future__ import annotations

import socket
from pathlib import Path

from slicerweb import sd_notify
from tests.conftest import start_server


def receive(sock: socket.socket, until: str, limit: int = 50) -> list[str]:
    """Datagrams until one contains `until` (each datagram is newline-separated assignments)."""
    got: list[str] = []
    for _ in range(limit):
        message = sock.recv(4096).decode()
        got.append(message)
        if until in message.split("\n"):
            return got
    raise AssertionError(f"{until} never came: {got}")


def test_serve_notifies_ready_pings_the_watchdog_and_says_stopping(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(20)
        server = start_server(tmp_path, env={"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "200000"})
        try:
            ready = receive(sock, "READY=1")
            pings = [m for m in receive(sock, "WATCHDOG=1") + receive(sock, "WATCHDOG=1") if "WATCHDOG=1" in m]
        finally:
            server.stop()
        stopping = receive(sock, "STOPPING=1")
    assert f"STATUS=serving on {server.url}/" in ready[-1].split("\n")
    assert len(pings) >= 2
    assert all("STATUS=ready" in p.split("\n") for p in pings)
    assert stopping[-1] == "STOPPING=1"


def test_no_socket_means_no_notification(monkeypatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sd_notify.notify("READY=1") is False


def test_watchdog_interval_is_half_of_watchdog_sec_and_only_for_this_process(monkeypatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert sd_notify.watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")
    assert sd_notify.watchdog_interval() is None
    monkeypatch.delenv("WATCHDOG_USEC")
    assert sd_notify.watchdog_interval() is None


def test_abstract_socket_names_are_understood(monkeypatch) -> None:
    name = f"slicerweb-test-{id(monkeypatch)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sd_notify.notify("READY=1", "STATUS=up") is True
        assert sock.recv(100) == b"READY=1\nSTATUS=up"
