"""The issuer's HTTP face: discovery, JWKS, authorize (code + PKCE), token, introspection.

    GET  /.well-known/openid-configuration   issuer, endpoints, algorithms
    GET  /jwks.json                          public keys
    GET  /authorize?response_type=code&client_id&redirect_uri&scope&state&code_challenge
                   &code_challenge_method=S256    -> 302 redirect_uri?code=...&state=...
    POST /token    grant_type=client_credentials (client_secret_basic or _post)
                   grant_type=authorization_code (code, redirect_uri, code_verifier; PKCE S256)
    POST /introspect  token=...  (client authentication required, RFC 7662)

Errors follow RFC 6749 §5.2 (`{"error": ..., "error_description": ...}`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.errors import JoseError
from quart import Quart, Response, jsonify, redirect, request

from .signing import DEFAULT_LIFETIME, SigningKeys

CODE_LIFETIME = 60.0


@dataclass(frozen=True)
class Client:
    """A registered client: a secret (None: public, PKCE only), the scopes it may get, redirect URIs."""

    client_id: str
    secret: str | None
    scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...] = ()

    @classmethod
    def parse(cls, spec: str, redirect_uris: tuple[str, ...] = ()) -> Client:
        """'id:secret:scope1,scope2' (empty secret: public client).

        >>> Client.parse("cli:s3cret:dicomweb.read,slicer.read").scopes
        ('dicomweb.read', 'slicer.read')
        """
        client_id, secret, scopes = [*spec.split(":", 2), "", ""][:3]
        if not client_id:
            raise ValueError(f"client spec {spec!r}: expected id:secret:scope1,scope2")
        return cls(client_id, secret or None, tuple(s for s in scopes.replace(",", " ").split() if s),
                   redirect_uris)


@dataclass
class IssuerConfig:
    issuer: str
    audience: str
    keys: SigningKeys
    clients: dict[str, Client]
    user: str = "developer"
    lifetime: float = DEFAULT_LIFETIME
    opaque: bool = False
    _codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _opaque: dict[str, dict[str, Any]] = field(default_factory=dict)


def create_issuer_app(config: IssuerConfig) -> Quart:
    app = Quart("slicerweb.issuer")
    base = config.issuer.rstrip("/")

    @app.get("/.well-known/openid-configuration")
    @app.get("/.well-known/oauth-authorization-server")
    async def discovery() -> Response:
        return jsonify({
            "issuer": config.issuer, "jwks_uri": f"{base}/jwks.json",
            "authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token",
            "introspection_endpoint": f"{base}/introspect",
            "grant_types_supported": ["client_credentials", "authorization_code"],
            "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": sorted({s for c in config.clients.values() for s in c.scopes}),
        })

    @app.get("/jwks.json")
    async def jwks() -> Response:
        return jsonify(config.keys.public_jwks())

    @app.get("/authorize")
    async def authorize() -> Response:
        args = request.args
        client = config.clients.get(args.get("client_id", ""))
        if client is None or args.get("redirect_uri") not in client.redirect_uris:
            return _error(400, "invalid_request", "unknown client or redirect_uri not registered")
        if args.get("response_type") != "code":
            return _error(400, "unsupported_response_type", "only response_type=code")
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            return _error(400, "invalid_request", "PKCE with code_challenge_method=S256 is required")
        code = secrets.token_urlsafe(24)
        config._codes[code] = {"client_id": client.client_id, "redirect_uri": args["redirect_uri"],
                               "challenge": args["code_challenge"], "scope": _granted(client, args.get("scope")),
                               "expires": time.time() + CODE_LIFETIME}
        query = {"code": code, **({"state": args["state"]} if "state" in args else {})}
        return redirect(f"{args['redirect_uri']}?{urlencode(query)}", 302)  # type: ignore[return-value]

    @app.post("/token")
    async def token() -> Response:
        form = await request.form
        grant = form.get("grant_type")
        client = _authenticate(config, request.headers.get("authorization"), form)
        if grant == "client_credentials":
            if client is None or client.secret is None:
                return _error(401, "invalid_client", "client authentication failed")
            return _issue(config, client, client.client_id, _granted(client, form.get("scope")))
        if grant == "authorization_code":
            entry = config._codes.pop(form.get("code", ""), None)
            client = client or config.clients.get(form.get("client_id", ""))
            if client is None or entry is None or entry["client_id"] != client.client_id:
                return _error(400, "invalid_grant", "unknown or used code")
            if client.secret is not None and _authenticate(config, request.headers.get("authorization"),
                                                           form) is None:
                return _error(401, "invalid_client", "client authentication failed")
            if entry["expires"] < time.time() or entry["redirect_uri"] != form.get("redirect_uri"):
                return _error(400, "invalid_grant", "code expired or redirect_uri differs")
            if not hmac.compare_digest(s256(form.get("code_verifier", "")), entry["challenge"]):
                return _error(400, "invalid_grant", "PKCE verification failed")
            return _issue(config, client, config.user, entry["scope"])
        return _error(400, "unsupported_grant_type", "client_credentials or authorization_code")

    @app.post("/introspect")
    async def introspect() -> Response:
        form = await request.form
        client = _authenticate(config, request.headers.get("authorization"), form)
        if client is None or client.secret is None:
            return _error(401, "invalid_client", "introspection needs client authentication")
        return jsonify(_introspection(config, form.get("token", "")))

    return app


def s256(verifier: str) -> str:
    """PKCE S256 challenge of `verifier` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _granted(client: Client, asked: str | None) -> str:
    if not asked:
        return " ".join(client.scopes)
    return " ".join(s for s in asked.split() if s in client.scopes)


def _authenticate(config: IssuerConfig, authorization: str | None, form: Any) -> Client | None:
    client_id, secret = form.get("client_id", ""), form.get("client_secret")
    if authorization and authorization.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        except ValueError:
            return None
    client = config.clients.get(client_id)
    if client is None or client.secret is None or secret is None:
        return None
    return client if hmac.compare_digest(client.secret.encode(), secret.encode()) else None


def _issue(config: IssuerConfig, client: Client, subject: str, scope: str) -> Response:
    if config.opaque:
        value = secrets.token_urlsafe(32)
        config._opaque[value] = {"active": True, "iss": config.issuer, "aud": config.audience,
                                 "sub": subject, "client_id": client.client_id, "scope": scope,
                                 "exp": int(time.time() + config.lifetime), "token_type": "Bearer"}
    else:
        value = config.keys.access_token(issuer=config.issuer, audience=config.audience, subject=subject,
                                         scope=scope, client_id=client.client_id, lifetime=config.lifetime)
    response = jsonify({"access_token": value, "token_type": "Bearer", "expires_in": int(config.lifetime),
                        "scope": scope})
    response.headers["Cache-Control"] = "no-store"
    return response


def _introspection(config: IssuerConfig, token: str) -> dict[str, Any]:
    entry = config._opaque.get(token)
    if entry is not None:
        return entry if entry["exp"] > time.time() else {"active": False}
    try:
        claims = jwt.decode(token, config.keys.current, algorithms=["RS256"]).claims
    except (JoseError, ValueError):
        return {"active": False}
    if claims.get("iss") != config.issuer or claims.get("exp", 0) <= time.time():
        return {"active": False}
    return {"active": True, **claims}


def _error(status: int, error: str, description: str) -> Response:
    response = jsonify({"error": error, "error_description": description})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
