"""The local issuer speaks real OAuth: discovery, client credentials, code + PKCE, introspection."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from slicerweb.issuer.server import s256
from tests.oidc import AUDIENCE, CLIENT, RunningIssuer


def test_discovery_names_itself_and_its_keys(issuer: RunningIssuer) -> None:
    document = httpx.get(f"{issuer.url}/.well-known/openid-configuration").json()
    assert document["issuer"] == issuer.url
    keys = httpx.get(document["jwks_uri"]).json()["keys"]
    assert [k["kid"] for k in keys] == [issuer.keys.current.kid]
    assert all("d" not in k for k in keys)  # public halves only
    assert document["code_challenge_methods_supported"] == ["S256"]


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


def test_authorization_code_with_pkce(issuer: RunningIssuer) -> None:
    verifier = secrets.token_urlsafe(48)
    query = {"response_type": "code", "client_id": "browser", "redirect_uri": "http://127.0.0.1/cb",
             "scope": "slicer.read", "state": "xyz", "code_challenge": s256(verifier),
             "code_challenge_method": "S256"}
    answer = httpx.get(f"{issuer.url}/authorize", params=query)
    assert answer.status_code == 302
    location = parse_qs(urlsplit(answer.headers["location"]).query)
    assert location["state"] == ["xyz"]
    form = {"grant_type": "authorization_code", "code": location["code"][0], "client_id": "browser",
            "redirect_uri": "http://127.0.0.1/cb"}
    wrong = httpx.post(f"{issuer.url}/token", data={**form, "code_verifier": "not-the-verifier"})
    assert wrong.status_code == 400  # and the code is now spent
    answer = httpx.get(f"{issuer.url}/authorize", params=query)
    form["code"] = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    token = httpx.post(f"{issuer.url}/token", data={**form, "code_verifier": verifier})
    assert token.status_code == 200
    assert token.json()["scope"] == "slicer.read"
    again = httpx.post(f"{issuer.url}/token", data={**form, "code_verifier": verifier})
    assert again.status_code == 400  # codes are single-use


def test_authorize_requires_pkce(issuer: RunningIssuer) -> None:
    query = {"response_type": "code", "client_id": "browser", "redirect_uri": "http://127.0.0.1/cb"}
    assert httpx.get(f"{issuer.url}/authorize", params=query).status_code == 400


def test_introspection_needs_client_auth_and_reports_activity(issuer: RunningIssuer) -> None:
    token = issuer.mint("slicer.read")
    assert httpx.post(f"{issuer.url}/introspect", data={"token": token}).status_code == 401
    active = httpx.post(f"{issuer.url}/introspect", data={"token": token}, auth=(CLIENT, "tests-secret")).json()
    assert active["active"] is True and active["sub"] == "alice"
    expired = issuer.mint("slicer.read", now=0, lifetime=60)
    assert httpx.post(f"{issuer.url}/introspect", data={"token": expired},
                      auth=(CLIENT, "tests-secret")).json() == {"active": False}
