"""`slicerweb issuer`: run the local test issuer on loopback (development and tests only)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from .signing import DEFAULT_LIFETIME, SigningKeys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: any free port)")
    parser.add_argument("--keys", required=True, help="private JWKS file (created when missing, mode 0600)")
    parser.add_argument("--audience", required=True, help="'aud' of the tokens (the SlicerWeb resource URI)")
    parser.add_argument("--issuer-url", help="'iss' (default: this server's URL)")
    parser.add_argument("--client", action="append", default=[], metavar="ID:SECRET:SCOPES",
                        help="register a client (empty SECRET: public client, PKCE only); repeatable")
    parser.add_argument("--redirect-uri", action="append", default=[],
                        help="redirect URI allowed for the authorization-code flow; repeatable")
    parser.add_argument("--user", default="developer", help="subject of authorization-code tokens")
    parser.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME, help="token lifetime (s)")
    parser.add_argument("--opaque", action="store_true", help="issue opaque tokens (for introspection)")
    parser.add_argument("--certfile", help="serve HTTPS with this certificate")
    parser.add_argument("--keyfile", help="private key for --certfile")


def run_issuer(args: argparse.Namespace) -> int:
    # Imported here: every `slicerweb` command builds this subcommand's parser, and most need
    # neither Hypercorn nor Quart (`slicerweb dicom import` starts faster without them).
    from hypercorn.config import Config

    from ..server import bind, run
    from .server import Client, IssuerConfig, create_issuer_app

    try:
        sock = bind(args.host, args.port, 1)
        clients = [Client.parse(spec, tuple(args.redirect_uri)) for spec in args.client]
        keys = SigningKeys.load_or_create(Path(args.keys))
    except (OSError, ValueError) as exc:
        print(f"slicerweb issuer: {exc}", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    scheme = "https" if args.certfile else "http"
    url = args.issuer_url or f"{scheme}://{'[' + host + ']' if ':' in host else host}:{port}"
    config = IssuerConfig(issuer=url, audience=args.audience, keys=keys,
                          clients={c.client_id: c for c in clients}, user=args.user,
                          lifetime=args.lifetime, opaque=args.opaque)
    app = create_issuer_app(config)
    hyper = Config()
    hyper.bind = [f"fd://{sock.detach()}"]
    hyper.include_server_header = False
    hyper.accesslog = None
    hyper.errorlog = "-"
    hyper.graceful_timeout = 2
    if args.certfile:
        hyper.certfile, hyper.keyfile = args.certfile, args.keyfile

    def ready() -> None:
        print(f"issuer serving on {url}", flush=True)

    asyncio.run(run(app, hyper, on_ready=ready))
    return 0
