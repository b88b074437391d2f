"""Authenticator Protocol: request headers -> Principal, or an RFC 6750 error.

`LocalAuthenticator` serves `auth.mode = "none"`, which the policy allows only on loopback or a Unix
socket: every caller is the local operator. Token authenticators live beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from .identity import LOCAL_OPERATOR, Principal


class Authenticator(Protocol):
    """Verifies the caller's credentials."""

    async def authenticate(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Principal:
        """Return the caller, or raise `errors.Unauthorized` with a `WWW-Authenticate` header."""
        ...


class LocalAuthenticator:
    """Auth off (loopback only): everyone is the local operator."""

    async def authenticate(self, headers: Mapping[str, str], query: Mapping[str, str]) -> Principal:
        return LOCAL_OPERATOR
