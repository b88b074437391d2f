"""The token side: /token (client credentials, authorization code + PKCE, refresh with rotation),
/userinfo, /revoke (RFC 7009) and /introspect (RFC 7662).

Access tokens are RFC 9068 JWTs (`typ: at+jwt`, aud = SlicerWeb); ID tokens are OIDC JWTs (`typ:
JWT`, aud = the client), so neither can stand in for the other at SlicerWeb. Errors follow RFC 6749
§5.2 (`{"error": ..., "error_description": ...}`), never cached.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from quart import Blueprint, Response, jsonify, request

from .clients import Client, authenticate
from .config import IssuerConfig, granted_scope
from .grants import RefreshGrant, digest


def create_blueprint(config: IssuerConfig) -> Blueprint:
    blueprint = Blueprint("tokens", __name__)
    grants = config.grants

    @blueprint.post("/token")
    async def token() -> Response:
        form = await request.form
        grant_type = form.get("grant_type")
        authenticated = authenticate(config.clients, request.headers.get("authorization"), form)
        if grant_type == "client_credentials":
            if authenticated is None:
                return error(401, "invalid_client", "client authentication failed")
            return _respond(config, authenticated, authenticated.client_id,
                            granted_scope(authenticated, form.get("scope")))
        client = _token_client(config, authenticated, form)
        if client is None:
            return error(401, "invalid_client", "unknown client, or a confidential client without its secret")
        if grant_type == "authorization_code":
            return _redeem_code(config, client, form)
        if grant_type == "refresh_token":
            return _rotate_refresh(config, client, form)
        return error(400, "unsupported_grant_type", "client_credentials, authorization_code or refresh_token")

    @blueprint.route("/userinfo", methods=["GET", "POST"])
    async def userinfo() -> Response:
        header = request.headers.get("authorization", "")
        claims = _verify_access_token(config, header[7:] if header.lower().startswith("bearer ") else "")
        if claims is None:
            response = error(401, "invalid_token", "a valid access token from this issuer is required")
            response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        if "openid" not in str(claims.get("scope", "")).split():
            response = error(403, "insufficient_scope", "the token was not issued with scope openid")
            response.headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope", scope="openid"'
            return response
        response = jsonify({"sub": claims["sub"], "preferred_username": claims["sub"], "name": claims["sub"]})
        response.headers["Cache-Control"] = "no-store"
        return response

    @blueprint.post("/revoke")
    async def revoke() -> Response:
        form = await request.form
        client = _token_client(config, authenticate(config.clients, request.headers.get("authorization"), form),
                               form)
        if client is None:
            return error(401, "invalid_client", "unknown client, or a confidential client without its secret")
        grant = grants.refresh.get(digest(form.get("token", "")))
        if grant is not None and grant.client_id == client.client_id:
            grants.revoke_family(grant.family)
        config._opaque.pop(form.get("token", ""), None)
        return Response("", status=200)   # RFC 7009 §2.2: also for unknown tokens

    @blueprint.post("/introspect")
    async def introspect() -> Response:
        form = await request.form
        client = authenticate(config.clients, request.headers.get("authorization"), form)
        if client is None:
            return error(401, "invalid_client", "introspection needs client authentication")
        return jsonify(_introspection(config, form.get("token", "")))

    return blueprint


def _token_client(config: IssuerConfig, authenticated: Client | None, form: Any) -> Client | None:
    """The client of a code or refresh request: authenticated, or public and named by client_id."""
    if authenticated is not None:
        return authenticated
    client = config.clients.get(form.get("client_id", ""))
    return client if client is not None and client.public else None


def _redeem_code(config: IssuerConfig, client: Client, form: Any) -> Response:
    grant = config.grants.codes.get(form.get("code", ""))
    if grant is None or grant.client_id != client.client_id:
        return error(400, "invalid_grant", "unknown or expired authorization code")
    if grant.used:
        # RFC 6749 §4.1.2: a replayed code may be stolen; revoke what it already bought.
        if grant.family:
            config.grants.revoke_family(grant.family)
        return error(400, "invalid_grant", "authorization code already used; tokens issued from it are revoked")
    grant.used = True   # single use, also when this attempt fails below
    if grant.redirect_uri != form.get("redirect_uri"):
        return error(400, "invalid_grant", "redirect_uri differs from the authorization request")
    verifier = form.get("code_verifier")
    if grant.challenge is None:
        pkce_ok = verifier is None      # a confidential client that did not use PKCE
    else:
        pkce_ok = verifier is not None and hmac.compare_digest(s256(verifier), grant.challenge)
    if not pkce_ok:
        return error(400, "invalid_grant", "PKCE verification failed (code_verifier does not match)")
    grant.family = secrets.token_urlsafe(16)
    refresh = RefreshGrant(grant.family, client.client_id, grant.username, grant.scope, grant.auth_time,
                           grant.session_id)
    return _respond(config, client, grant.username, grant.scope, refresh=refresh, nonce=grant.nonce)


def _rotate_refresh(config: IssuerConfig, client: Client, form: Any) -> Response:
    grants = config.grants
    grant = grants.refresh.get(digest(form.get("refresh_token", "")))
    if grant is None or grant.client_id != client.client_id or grants.family_revoked(grant.family):
        return error(400, "invalid_grant", "unknown, expired or revoked refresh token")
    if grant.used:
        grants.revoke_family(grant.family)   # a spent token came back: someone holds a copy
        return error(400, "invalid_grant", "refresh token already used; its session is revoked")
    grant.used = True
    asked = form.get("scope")
    scope = grant.scope if not asked else " ".join(s for s in asked.split() if s in grant.scope.split())
    successor = RefreshGrant(grant.family, client.client_id, grant.username, scope, grant.auth_time,
                             grant.session_id)
    return _respond(config, client, grant.username, scope, refresh=successor)


def _respond(config: IssuerConfig, client: Client, subject: str, scope: str, *,
             refresh: RefreshGrant | None = None, nonce: str | None = None) -> Response:
    now = time.time()
    access = _access_token(config, client, subject, scope, refresh.family if refresh else None)
    body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": int(config.lifetime),
                            "scope": scope}
    if refresh is not None:
        body["refresh_token"] = config.grants.issue_refresh(refresh)
        if "openid" in scope.split():
            claims = {"iss": config.issuer, "sub": subject, "aud": client.client_id, "azp": client.client_id,
                      "iat": int(now), "exp": int(now + config.lifetime), "auth_time": refresh.auth_time,
                      "sid": digest(refresh.session_id)[:32], "at_hash": _half_hash(access),
                      "preferred_username": subject, "nonce": nonce}
            body["id_token"] = config.keys.sign({k: v for k, v in claims.items() if v is not None}, {"typ": "JWT"})
    response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _access_token(config: IssuerConfig, client: Client, subject: str, scope: str, family: str | None) -> str:
    if config.opaque:
        value = secrets.token_urlsafe(32)
        config._opaque[value] = {"active": True, "iss": config.issuer, "aud": config.audience,
                                 "sub": subject, "client_id": client.client_id, "scope": scope,
                                 "exp": int(time.time() + config.lifetime), "token_type": "Bearer",
                                 "_family": family}
        return value
    return config.keys.access_token(issuer=config.issuer, audience=config.audience, subject=subject,
                                    scope=scope, client_id=client.client_id, lifetime=config.lifetime)


def _verify_access_token(config: IssuerConfig, token: str) -> dict[str, Any] | None:
    """Claims of an active access token this issuer minted (JWT or opaque), else None."""
    answer = _introspection(config, token)
    return answer if answer.get("active") else None


def _introspection(config: IssuerConfig, token: str) -> dict[str, Any]:
    entry = config._opaque.get(token)
    if entry is not None:
        family = entry.get("_family")
        if entry["exp"] <= time.time() or (family and config.grants.family_revoked(family)):
            return {"active": False}
        return {k: v for k, v in entry.items() if not k.startswith("_")}
    try:
        decoded = jwt.decode(token, config.keys.current, algorithms=["RS256"])
    except (JoseError, ValueError):
        return {"active": False}
    claims = decoded.claims
    if (decoded.header.get("typ") != "at+jwt" or claims.get("iss") != config.issuer
            or claims.get("exp", 0) <= time.time()):
        return {"active": False}
    return {"active": True, **claims}


def s256(verifier: str) -> str:
    """PKCE S256 challenge of `verifier` (RFC 7636 §4.2)."""
    digest_bytes = hashlib.sha256(verifier.encode("ascii", errors="replace")).digest()
    return base64.urlsafe_b64encode(digest_bytes).rstrip(b"=").decode()


def _half_hash(token: str) -> str:
    """OIDC at_hash: the left half of SHA-256 of the access token, base64url."""
    half = hashlib.sha256(token.encode()).digest()[:16]
    return base64.urlsafe_b64encode(half).rstrip(b"=").decode()


def error(status: int, code: str, description: str) -> Response:
    response = jsonify({"error": code, "error_description": description})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
