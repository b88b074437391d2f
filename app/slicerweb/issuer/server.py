"""The issuer's HTTP face: discovery, JWKS, and the sign-in and token blueprints.

    GET  /.well-known/openid-configuration   issuer, endpoints, algorithms
    GET  /jwks.json                          public keys
    GET  /authorize   response_type=code, client_id, redirect_uri, scope, state, nonce, code_challenge,
                      code_challenge_method=S256, prompt   -> login page, or 303 redirect_uri?code&state&iss
    POST /login       request, csrf, username, password   -> 303 redirect_uri?code&state&iss
    GET|POST /end-session   post_logout_redirect_uri, state, client_id | id_token_hint
    POST /token       client_credentials | authorization_code (+ PKCE) | refresh_token (rotated)
    GET|POST /userinfo   Authorization: Bearer <access token with scope openid>
    POST /revoke      token (RFC 7009)
    POST /introspect  token (client authentication required, RFC 7662)
"""

from __future__ import annotations

from quart import Quart, Response, jsonify

from . import authorize, cors, tokens
from .clients import Client
from .config import PROTOCOL_SCOPES, IssuerConfig
from .tokens import s256

__all__ = ["Client", "IssuerConfig", "create_issuer_app", "s256"]


def create_issuer_app(config: IssuerConfig) -> Quart:
    app = Quart("slicerweb.issuer")
    base = config.base

    @app.get("/.well-known/openid-configuration")
    @app.get("/.well-known/oauth-authorization-server")
    async def discovery() -> Response:
        return jsonify({
            "issuer": config.issuer, "jwks_uri": f"{base}/jwks.json",
            "authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo", "end_session_endpoint": f"{base}/end-session",
            "revocation_endpoint": f"{base}/revoke", "introspection_endpoint": f"{base}/introspect",
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "response_types_supported": ["code"], "response_modes_supported": ["query"],
            "code_challenge_methods_supported": ["S256"], "subject_types_supported": ["public"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "id_token_signing_alg_values_supported": ["RS256"], "prompt_values_supported": ["none", "login"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid",
                                 "preferred_username", "name"],
            "authorization_response_iss_parameter_supported": True,
            "scopes_supported": [*PROTOCOL_SCOPES, *sorted({s for c in config.clients.values() for s in c.scopes})],
        })

    @app.get("/jwks.json")
    async def jwks() -> Response:
        return jsonify(config.keys.public_jwks())

    app.register_blueprint(authorize.create_blueprint(config))
    app.register_blueprint(tokens.create_blueprint(config))
    cors.install(app, config.allowed_origins)
    return app
