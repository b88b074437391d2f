"""The local issuer speaks real OAuth: discovery, client credentials, introspection (sign-in: test_authorize)."""

from __future__ import annotations

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.oidc import AUDIENCE, CLIENT, RunningIssuer


def test_discovery_names_itself_and_its_keys(issuer: RunningIssuer) -> None:
    document = httpx.get(f"{issuer.url}/.well-known/openid-configuration").json()
    assert document["issuer"] == issuer.url
    keys = httpx.get(document["jwks_uri"]).json()["keys"]
    assert [k["kid"] for k in keys] == [issuer.keys.current.kid]
    assert all("d" not in k for k in keys)  # public halves only
    assert document["code_challenge_methods_supported"] == ["S256"]
    endpoints = {name: document[f"{name}_endpoint"] for name in
                 ("authorization", "token", "userinfo", "end_session", "revocation", "introspection")}
    assert endpoints == {"authorization": f"{issuer.url}/authorize", "token": f"{issuer.url}/token",
                         "userinfo": f"{issuer.url}/userinfo", "end_session": f"{issuer.url}/end-session",
                         "revocation": f"{issuer.url}/revoke", "introspection": f"{issuer.url}/introspect"}
    assert {"authorization_code", "refresh_token"} <= set(document["grant_types_supported"])
    assert "openid" in document["scopes_supported"] and document["response_types_supported"] == ["code"]


def test_client_credentials_token_is_an_rfc9068_access_token(issuer: RunningIssuer) -> None:
    token = issuer.client_credentials("dicomweb.read slicer.exec")
    keys = KeySet.import_key_set(httpx.get(f"{issuer.url}/jwks.json").json())
    decoded = jwt.decode(token, keys, algorithms=["RS256"])
    assert decoded.header["typ"] == "at+jwt"
    claims = decoded.claims
    assert claims["iss"] == issuer.url and claims["aud"] == AUDIENCE and claims["client_id"] == CLIENT
    assert claims["scope"] == "dicomweb.read slicer.exec"
    assert {"exp", "iat", "jti", "sub"} <= set(claims)


def test_wrong_client_secret_is_refused(issuer: RunningIssuer) -> None:
    response = httpx.post(f"{issuer.url}/token", data={"grant_type": "client_credentials"},
                          auth=(CLIENT, "wrong"))
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_introspection_needs_client_auth_and_reports_activity(issuer: RunningIssuer) -> None:
    token = issuer.mint("slicer.read")
    assert httpx.post(f"{issuer.url}/introspect", data={"token": token}).status_code == 401
    active = httpx.post(f"{issuer.url}/introspect", data={"token": token}, auth=(CLIENT, "tests-secret")).json()
    assert active["active"] is True and active["sub"] == "alice"
    expired = issuer.mint("slicer.read", now=0, lifetime=60)
    assert httpx.post(f"{issuer.url}/introspect", data={"token": expired},
                      auth=(CLIENT, "tests-secret")).json() == {"active": False}
