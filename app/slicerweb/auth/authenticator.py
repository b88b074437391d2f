"""Authenticator Protocol: request headers -> Principal, or an RFC 6750 error.

`LocalAuthenticator` serves `auth.mode = "none"`, which the policy allows only on loopback or a Unix
socket: every caller is the local operator. `TokenAuthenticator` serves `jwt` and `introspection`:
the bearer token from the Authorization header, checked by `tokens.JWTVerifier` or
`introspection.IntrospectionVerifier`. `authenticator_for(policy)` picks one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ..asgi_types import HeaderMap
from ..errors import BadRequest, Unauthorized
from ..policy import Policy
from .challenge import bearer_challenge
from .identity import LOCAL_OPERATOR, Principal
from .introspection import IntrospectionVerifier
from .tokens import JWTVerifier, TokenRejected, TokenVerifier, bearer_token


class Authenticator(Protocol):
    """Verifies the caller's credentials."""

    async def authenticate(self, headers: HeaderMap, query: Mapping[str, str]) -> Principal:
        """Return the caller, or raise `errors.Unauthorized` with a `WWW-Authenticate` header."""
        ...


class LocalAuthenticator:
    """Auth off (loopback only): everyone is the local operator."""

    async def authenticate(self, headers: HeaderMap, query: Mapping[str, str]) -> Principal:
        return LOCAL_OPERATOR


class TokenAuthenticator:
    """Bearer tokens (header only) checked by a TokenVerifier; failures become RFC 6750 errors."""

    def __init__(self, policy: Policy, verifier: TokenVerifier) -> None:
        self.realm = policy.auth.realm
        self.verifier = verifier

    async def authenticate(self, headers: HeaderMap, query: Mapping[str, str]) -> Principal:
        try:
            token = bearer_token(headers)
            if token is None:
                raise Unauthorized("a bearer token is required (Authorization: Bearer ...)",
                                   headers={"WWW-Authenticate": bearer_challenge(self.realm)})
            return await self.verifier.verify(token)
        except TokenRejected as exc:
            challenge = {"WWW-Authenticate": bearer_challenge(self.realm, exc.error, exc.description)}
            if exc.status == 400:
                raise BadRequest(exc.description, headers=challenge) from None
            raise Unauthorized(f"invalid token: {exc.description}", headers=challenge) from None


def authenticator_for(policy: Policy) -> Authenticator:
    """The authenticator `auth.mode` asks for."""
    mode = policy.auth.mode
    if mode == "jwt":
        return TokenAuthenticator(policy, JWTVerifier(policy))
    if mode == "introspection":
        return TokenAuthenticator(policy, IntrospectionVerifier(policy))
    return LocalAuthenticator()
