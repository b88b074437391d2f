"""Raw HTTP/1.1 over TCP or TLS-with-SNI, for requests HTTP clients would normalise or refuse
(traversal paths, oversized headers, lying Content-Length), and the targets the audit talks to."""

from __future__ import annotations

import contextlib
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class Target:
    """The app directly (http) or a front (https, certificate from the stack's CA)."""

    name: str
    url: str                       # base URL, e.g. https://localhost:8443
    host: str                      # address to connect to
    port: int
    server_name: str               # SNI and Host header
    ca_file: Path | None = None
    pid: int | None = None         # the app process behind it (for RSS)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def tls(self) -> bool:
        return self.ca_file is not None

    def context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def client(self, **kwargs: object) -> httpx.Client:
        verify: ssl.SSLContext | bool = self.context() if self.tls else True
        return httpx.Client(base_url=self.url, verify=verify, timeout=60, **kwargs)  # type: ignore[arg-type]


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header_count(self, name: str) -> int:
        return sum(1 for key, _ in self.headers if key.lower() == name.lower())


def raw_request(target: Target, request: bytes, *, timeout: float = 30, read_limit: int = 4 << 20) -> RawResponse:
    """Send `request` as is; read the answer until close (or `read_limit` bytes); status 0 if none."""
    with socket.create_connection((target.host, target.port), timeout=timeout) as plain:
        sock: socket.socket = (target.context().wrap_socket(plain, server_hostname=target.server_name)
                               if target.tls else plain)
        try:
            # The server may answer and close before taking the whole body: then read its answer.
            with contextlib.suppress(OSError, ssl.SSLError):
                sock.sendall(request)
            data = b""
            while len(data) < read_limit:
                try:
                    chunk = sock.recv(65536)
                except (TimeoutError, OSError, ssl.SSLError):
                    break
                if not chunk:
                    break
                data += chunk
        finally:
            if sock is not plain:
                sock.close()
    return parse_response(data)


def parse_response(data: bytes) -> RawResponse:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2) if lines and lines[0].startswith("HTTP/") else []
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:]) if k]
    return RawResponse(status, headers, body)


def get(target: Target, path: str, token: str | None = None, *, extra_headers: str = "",
        method: str = "GET", body: bytes = b"") -> RawResponse:
    """A raw request with `path` sent byte for byte."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    declared = "content-length:" in extra_headers.lower()
    length = f"Content-Length: {len(body)}\r\n" if (body or method in ("POST", "PUT")) and not declared else ""
    request = (f"{method} {path} HTTP/1.1\r\nHost: {target.server_name}\r\n{auth}{length}{extra_headers}"
               "Connection: close\r\n\r\n").encode("latin-1") + body
    return raw_request(target, request)


def rss_kib(pid: int, field_name: str = "VmRSS") -> int:
    """VmRSS (now) or VmHWM (peak so far) of `pid`, in KiB; 0 when unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux: `5` to /proc/PID/clear_refs), so the next peak is one request's."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True
