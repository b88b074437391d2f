"""`auth/authenticator.py`: request headers -> Principal, or an RFC 6750 error a client can act on.

Contract: `authenticator_for(policy)` picks the local operator for `auth.mode = "none"` and a bearer
token check otherwise. A missing credential is 401 with a bare challenge (no error code, RFC 6750
§3.1); a malformed request (empty token, two credentials) is 400 `invalid_request`; a token that
fails verification is 401 `invalid_token`. The token never appears in the error. Tokens come from
the Authorization header only: the query string is not a place they are looked for.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from slicerweb.auth.authenticator import LocalAuthenticator, TokenAuthenticator, authenticator_for
from slicerweb.auth.identity import LOCAL_OPERATOR
from slicerweb.auth.introspection import IntrospectionVerifier
from slicerweb.auth.tokens import JWTVerifier
from slicerweb.errors import ApiError, BadRequest, Unauthorized
from slicerweb.policy import Policy
from tests.oidc import RunningIssuer

MakePolicy = Callable[..., Policy]
BARE = 'Bearer realm="slicerweb"'


@pytest.fixture
def jwt_policy(make_policy: MakePolicy, issuer: RunningIssuer) -> Policy:
    return make_policy(**{"auth.mode": "jwt", "auth.issuer": issuer.url, "auth.audience": issuer.audience})


@pytest.fixture
def authenticator(jwt_policy: Policy) -> TokenAuthenticator:
    chosen = authenticator_for(jwt_policy)
    assert isinstance(chosen, TokenAuthenticator)
    return chosen


async def refusal(authenticator: TokenAuthenticator, headers: dict[str, str],
                  query: dict[str, str] | None = None) -> ApiError:
    with pytest.raises(ApiError) as refused:
        await authenticator.authenticate(headers, query or {})
    return refused.value


def test_the_mode_picks_the_authenticator(make_policy: MakePolicy, jwt_policy: Policy) -> None:
    assert isinstance(authenticator_for(make_policy()), LocalAuthenticator)
    jwt = authenticator_for(jwt_policy)
    assert isinstance(jwt, TokenAuthenticator) and isinstance(jwt.verifier, JWTVerifier)
    introspection = authenticator_for(make_policy(**{
        "auth.mode": "introspection", "auth.introspection_url": "http://127.0.0.1:9/introspect"}))
    assert isinstance(introspection, TokenAuthenticator)
    assert isinstance(introspection.verifier, IntrospectionVerifier)


async def test_auth_off_makes_every_caller_the_local_operator() -> None:
    local = LocalAuthenticator()
    assert await local.authenticate({}, {}) is LOCAL_OPERATOR
    # A token changes nothing: with auth off nobody verifies it, so it cannot raise or lower rights.
    assert await local.authenticate({"authorization": "Bearer whatever"}, {}) is LOCAL_OPERATOR


async def test_a_valid_token_gives_its_subject_and_scopes(authenticator: TokenAuthenticator,
                                                          issuer: RunningIssuer) -> None:
    token = issuer.mint("dicomweb.read slicer.read", subject="bob")
    principal = await authenticator.authenticate({"authorization": f"Bearer {token}"}, {})
    assert principal.subject == "bob"
    assert principal.scopes == {"dicomweb.read", "slicer.read"}
    assert principal.via == "token" and not principal.is_local
    assert principal.expires_at is not None


@pytest.mark.parametrize("headers", [{}, {"authorization": "Basic YWxpY2U6c2VjcmV0"}],
                         ids=["no header", "basic credentials"])
async def test_no_bearer_credential_is_401_with_a_bare_challenge(authenticator: TokenAuthenticator,
                                                                 headers: dict[str, str]) -> None:
    error = await refusal(authenticator, headers)
    assert isinstance(error, Unauthorized) and error.status == 401 and error.code == "unauthorized"
    assert error.headers == {"WWW-Authenticate": BARE}  # RFC 6750 §3.1: no error code without credentials
    assert error.message == "a bearer token is required (Authorization: Bearer ...)"


async def test_a_token_in_the_query_string_is_not_looked_for(authenticator: TokenAuthenticator,
                                                             issuer: RunningIssuer) -> None:
    error = await refusal(authenticator, {}, {"access_token": issuer.mint("dicomweb.read")})
    assert error.status == 401 and error.headers == {"WWW-Authenticate": BARE}


@pytest.mark.parametrize(("authorization", "description"), [
    ("Bearer ", "empty bearer token"),
    ("Bearer a.b.c, Bearer a.b.c", "more than one credential in Authorization"),
    ("Bearer " + "a" * 20000, "bearer token too long")])
async def test_a_malformed_credential_is_400_invalid_request(authenticator: TokenAuthenticator,
                                                             authorization: str, description: str) -> None:
    error = await refusal(authenticator, {"authorization": authorization})
    assert isinstance(error, BadRequest) and error.status == 400
    assert error.message == description
    assert error.headers == {"WWW-Authenticate": f'{BARE}, error="invalid_request", '
                                                 f'error_description="{description}"'}


async def test_a_bad_token_is_401_invalid_token_without_the_token(authenticator: TokenAuthenticator,
                                                                  issuer: RunningIssuer) -> None:
    for token in (issuer.mint("dicomweb.read", audience="https://elsewhere.example"),
                  issuer.mint("dicomweb.read", lifetime=-600), "not.a.jwt"):
        error = await refusal(authenticator, {"authorization": f"Bearer {token}"})
        assert isinstance(error, Unauthorized) and error.status == 401
        assert error.message.startswith("invalid token: ")
        challenge = error.headers["WWW-Authenticate"]
        assert challenge.startswith(f'{BARE}, error="invalid_token", error_description="')
        assert token not in error.message and token not in challenge
