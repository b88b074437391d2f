"""`slicerweb issuer`: run the local test issuer on loopback (development and tests only).

`slicerweb issuer hash-password` reads a password on stdin and prints its hash for a users file.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

from . import events
from .grants import REFRESH_LIFETIME, SESSION_LIFETIME
from .signing import DEFAULT_LIFETIME, SigningKeys
from .users import UserStore, hash_password


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--keys", help="private JWKS file (created when missing, mode 0600); required")
    parser.add_argument("--audience", help="'aud' of the access tokens (the SlicerWeb resource URI); required")
    parser.add_argument("--issuer-url", help="'iss' (default: this server's URL)")
    parser.add_argument("--client", action="append", default=[], metavar="ID:SECRET:SCOPES",
                        help="register a client (empty SECRET: public client, PKCE required); repeatable")
    parser.add_argument("--redirect-uri", action="append", default=[],
                        help="redirect URI allowed (exactly) for the authorization-code flow; repeatable")
    parser.add_argument("--post-logout-redirect-uri", action="append", default=[],
                        help="URI allowed (exactly) after sign-out at /end-session; repeatable")
    parser.add_argument("--cors-origin", action="append", default=[],
                        help="extra browser origin allowed to call token/userinfo/discovery/JWKS "
                             "(the redirect URIs' origins always are); repeatable")
    parser.add_argument("--users", help="users file: JSON {\"users\": [{username, password_hash, scopes}]}, "
                                         "mode 0600 (no file: nobody can sign in)")
    parser.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME, help="access/ID token lifetime (s)")
    parser.add_argument("--refresh-lifetime", type=float, default=REFRESH_LIFETIME,
                        help="refresh token lifetime (s, renewed on each rotation)")
    parser.add_argument("--session-lifetime", type=float, default=SESSION_LIFETIME,
                        help="the issuer's login session (s)")
    parser.add_argument("--login-free-attempts", type=int, default=5,
                        help="failed logins per username and address before the backoff starts")
    parser.add_argument("--login-max-delay", type=float, default=60.0,
                        help="longest wait (s) the doubling backoff after failed logins imposes")
    parser.add_argument("--opaque", action="store_true", help="issue opaque tokens (for introspection)")
    parser.add_argument("--certfile", help="serve HTTPS with this certificate")
    parser.add_argument("--keyfile", help="private key for --certfile")
    commands = parser.add_subparsers(dest="issuer_command")
    commands.add_parser("hash-password", help="read a password on stdin, print its hash for a users file")


def main(argv: Sequence[str]) -> int:
    """`slicerweb issuer ARGS` (cli.py hands the arguments after `issuer` here)."""
    parser = argparse.ArgumentParser(prog="slicerweb issuer", description=__doc__)
    add_arguments(parser)
    return run_issuer(parser.parse_args(argv))


def run_issuer(args: argparse.Namespace) -> int:
    if args.issuer_command == "hash-password":
        return _hash_password()
    if not args.keys or not args.audience:
        print("slicerweb issuer: --keys FILE and --audience URI are required", file=sys.stderr)
        return 2
    # Imported here: every `slicerweb` command builds this subcommand's parser, and most need
    # neither Hypercorn nor Quart (`slicerweb dicom import` starts faster without them).
    from hypercorn.config import Config

    from ..server import bind, run
    from .config import IssuerConfig
    from .grants import GrantStore
    from .server import Client, create_issuer_app
    from .throttle import LoginThrottle

    try:
        sock = bind(args.host, args.port, 1)
        clients = [Client.parse(spec, tuple(args.redirect_uri), tuple(args.post_logout_redirect_uri))
                   for spec in args.client]
        keys = SigningKeys.load_or_create(Path(args.keys))
        users = UserStore.load(Path(args.users)) if args.users else UserStore()
    except (OSError, ValueError) as exc:
        print(f"slicerweb issuer: {exc}", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    scheme = "https" if args.certfile else "http"
    url = args.issuer_url or f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}"
    config = IssuerConfig(issuer=url, audience=args.audience, keys=keys,
                          clients={c.client_id: c for c in clients}, lifetime=args.lifetime, opaque=args.opaque,
                          users=users, cors_origins=tuple(args.cors_origin),
                          throttle=LoginThrottle(free_attempts=args.login_free_attempts,
                                                 max_delay=args.login_max_delay),
                          grants=GrantStore(session_lifetime=args.session_lifetime,
                                            refresh_lifetime=args.refresh_lifetime))
    app = create_issuer_app(config)
    events.log_to(sys.stderr)
    hyper = Config()
    hyper.bind = [f"fd://{sock.detach()}"]
    hyper.include_server_header = False
    hyper.accesslog = None   # never log query strings (id_token_hint at /end-session)
    hyper.errorlog = "-"
    hyper.graceful_timeout = 2
    if args.certfile:
        hyper.certfile, hyper.keyfile = args.certfile, args.keyfile

    def ready() -> None:
        print(f"issuer serving on {url}", flush=True)

    asyncio.run(run(app, hyper, on_ready=ready))
    return 0


def _hash_password() -> int:
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("slicerweb issuer hash-password: empty password (give it on stdin)", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0
