"""Serving with Hypercorn: bind port 2016 or the next free one, once, and hand Hypercorn the socket.

Binding here (not probing and letting Hypercorn rebind) leaves no window in which another process
could take the port. Hypercorn gets the socket as `fd://N`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypercorn.asyncio import serve
from hypercorn.config import Config
from quart import Quart

from .policy import Policy
from .response_aborted import ServerLogger

GRACEFUL_TIMEOUT = 5  # seconds Hypercorn lets open requests finish after a stop (the supervisor waits as long)


class PortsExhausted(OSError):
    """No free port in the searched range."""


@dataclass(frozen=True)
class Listener:
    """A bound, listening socket and the URL it serves."""

    sock: socket.socket
    url: str


def bind(host: str, port: int, search: int) -> socket.socket:
    """Bind `host:port`, or the next of `search` ports that is free; `port=0` takes any free port."""
    address = "127.0.0.1" if host == "localhost" else host.strip("[]")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    last: OSError | None = None
    for candidate in ([0] if port == 0 else range(port, port + search)):
        sock = socket.socket(family, socket.SOCK_STREAM)
        # SO_REUSEADDR lets a restart reuse a port in TIME_WAIT; it never allows two listeners.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, candidate))
            # With SO_REUSEADDR two sockets may both bind before either listens; listen() then
            # fails for the second, which must move on to the next port too.
            sock.listen(1024)
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            last = exc
            continue
        return sock
    raise PortsExhausted(errno.EADDRINUSE, f"ports {port}-{port + search - 1} on {host} are all in use") from last


def listen(policy: Policy, *, tls: bool = False) -> Listener:
    """Bind according to the policy (TCP or Unix socket)."""
    path = policy.server.unix_socket
    if path:
        with contextlib.suppress(FileNotFoundError):
            Path(path).unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        Path(path).chmod(0o660)
        sock.listen(1024)
        return Listener(sock, f"unix:{path}")
    sock = bind(policy.server.host, policy.server.port, policy.server.port_search)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return Listener(sock, f"{'https' if tls else 'http'}://{shown}:{port}/")


def certificate_problem(certfile: str, keyfile: str) -> str:
    """Why this certificate and key cannot serve TLS ("" when they can). Checked before serving: Hypercorn
    loads them only after start-up and would fail with a traceback (and after every worker said it was ready)."""
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (OSError, ssl.SSLError) as exc:
        return f"cannot use the certificate {certfile} with the key {keyfile}: {exc.strerror or exc}"
    return ""


def hypercorn_config(policy: Policy, listener: Listener, certfile: str = "", keyfile: str = "") -> Config:
    """Hypercorn settings from the policy: timeouts, no Server header, our access log instead of its."""
    config = Config()
    # Hypercorn wraps the descriptor in its own socket object: hand it over so only one owner closes it.
    config.bind = [f"fd://{listener.sock.detach()}"]
    # Hypercorn calls listen(config.backlog) again on that socket: keep listen()'s 1024, not its 100 (a
    # burst of 200 clients behind nginx overflowed 100 and nginx answered 500 for the failed auth subrequests).
    config.backlog = 1024
    config.read_timeout = policy.limits.read_timeout
    # Hypercorn's keep-alive timer runs from a connection's start (or the end of its last response)
    # until a complete request head has arrived, and data does not reset it: so it is also the
    # deadline for slow headers (a line every 2 s resets read_timeout, never this). Both are the
    # policy's read_timeout (default 60 s), which must stay above the bundled proxies' upstream idle
    # timeout (30 s): the proxy must be the side that closes an idle connection, or it may send a
    # POST into one we are closing and answer 502.
    config.keep_alive_timeout = policy.limits.read_timeout
    config.include_server_header = False
    config.accesslog = None
    # Hypercorn's own messages go through our handlers (JSON lines for journald when so configured).
    config.errorlog = logging.getLogger("hypercorn.error") if policy.logging.console else None
    config.logger_class = ServerLogger  # a ResponseAborted was logged in one line where it was raised
    config.h11_max_incomplete_size = 64 * 1024
    config.graceful_timeout = GRACEFUL_TIMEOUT
    if certfile:
        config.certfile, config.keyfile = certfile, keyfile
    return config


async def run(app: Quart, config: Config, *, on_ready: Callable[[], None] | None = None,
              stop: asyncio.Event | None = None, handle_signals: bool = True,
              on_hangup: Callable[[], None] | None = None) -> None:
    """Serve until `stop` is set (DELETE /system sets it) or, with `handle_signals`, SIGINT/SIGTERM;
    SIGHUP calls `on_hangup` (reopen the log files after logrotate renamed them) and never stops us.

    Inside Slicer the server runs on a worker thread, where signal handlers cannot be installed.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handlers: list[tuple[signal.Signals, Callable[[], None]]] = [(signal.SIGINT, stop.set), (signal.SIGTERM, stop.set)]
    if on_hangup is not None:
        handlers.append((signal.SIGHUP, on_hangup))
    for sig, handler in handlers if handle_signals else ():
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, handler)

    @app.before_serving
    async def _ready() -> None:
        if on_ready is not None:
            on_ready()

    await serve(app, config, shutdown_trigger=stop.wait)
