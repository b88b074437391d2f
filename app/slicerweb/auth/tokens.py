"""Bearer tokens: extraction (Authorization header only) and JWT access-token checks (RFC 9068).

The checks follow RFC 8725 and RFC 9068 §4, in this order:

1. `Authorization: Bearer <token>` is the only source (RFC 6750 §2.1); a second credential, an empty
   or oversized token is `invalid_request` (400). Query-string tokens are refused by the guard.
2. The header is read without trusting it: `alg` must be in `auth.algorithms` (asymmetric only, the
   policy loader refuses `none` and HS*); `jku`, `x5u`, `jwk` and `crit` headers are refused; `typ`
   must be `at+jwt` unless `auth.require_at_jwt` is off, in which case ID tokens (`nonce`/`at_hash`)
   are still refused.
3. The key comes from the issuer's JWKS by `kid` (`jwks.py`); an unknown kid refreshes the cache at
   a bounded rate. A key that names its own `alg` must match the token's.
4. Signature (joserfc, with the same allow-list), then claims: `iss` exact, `aud` contains
   `auth.audience`, `exp` required, `exp`/`nbf`/`iat` with `auth.leeway` seconds, `sub` required.

Every failure is a `TokenRejected` whose description names the check, never the token.

A verified token's Principal is remembered (keyed by the token's SHA-256) until the token expires
or `VERDICT_SECONDS` pass, whichever is first, so the verifier endpoint and the app's own check of
the same request pay for one signature check; refusals are never cached.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry

from ..asgi_types import HeaderMap
from ..policy import Policy
from .identity import Principal
from .jwks import KeyCache, KeysUnavailable

MAX_TOKEN_LENGTH = 16 * 1024
VERDICT_SECONDS = 60.0
VERDICT_CACHE_SIZE = 4096
AT_JWT_TYPES = frozenset({"at+jwt", "application/at+jwt"})
FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "crit")
ID_TOKEN_CLAIMS = ("nonce", "at_hash", "c_hash")


class TokenRejected(Exception):
    """A credential problem: RFC 6750 error code, HTTP status and a description safe to show."""

    def __init__(self, description: str, *, error: str = "invalid_token", status: int = 401) -> None:
        super().__init__(description)
        self.description, self.error, self.status = description, error, status


class TokenVerifier(Protocol):
    """Turns a token string into a Principal or raises TokenRejected."""

    async def verify(self, token: str) -> Principal: ...


def bearer_token(headers: HeaderMap) -> str | None:
    """The bearer token in `Authorization`, None when no bearer credentials were sent.

    >>> bearer_token({"authorization": "Bearer abc.def.ghi"})
    'abc.def.ghi'
    >>> bearer_token({"authorization": "Basic dXNlcjpwdw=="}) is None
    True
    """
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token:
        raise TokenRejected("empty bearer token", error="invalid_request", status=400)
    if "," in token or " " in token:
        raise TokenRejected("more than one credential in Authorization", error="invalid_request", status=400)
    if len(token) > MAX_TOKEN_LENGTH:
        raise TokenRejected("bearer token too long", error="invalid_request", status=400)
    return token


def scopes_from(claims: Mapping[str, Any], names: Iterable[str]) -> frozenset[str]:
    """Granted scopes: space-separated strings or string lists under any of the `names` claims.

    >>> sorted(scopes_from({"scope": "a b", "roles": ["c"]}, ["scope", "roles"]))
    ['a', 'b', 'c']
    """
    granted: set[str] = set()
    for name in names:
        value = claims.get(name)
        if isinstance(value, str):
            granted.update(value.split())
        elif isinstance(value, list):
            granted.update(v for v in value if isinstance(v, str))
    return frozenset(granted)


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS, decoded but not trusted (only used to pick the key)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRejected("not a signed JWT (compact JWS with three parts)")
    try:
        padded = parts[0] + "=" * (-len(parts[0]) % 4)
        header = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise TokenRejected("malformed token header") from None
    if not isinstance(header, dict):
        raise TokenRejected("malformed token header")
    return header


class JWTVerifier:
    """Verifies RFC 9068 JWT access tokens against the policy's issuer, audience and algorithms."""

    def __init__(self, policy: Policy, keys: KeyCache | None = None) -> None:
        auth = policy.auth
        self.issuer = auth.issuer
        self.audience = auth.audience
        self.algorithms = auth.algorithms
        self.leeway = auth.leeway
        self.require_at_jwt = auth.require_at_jwt
        self.scope_claims = auth.scope_claims
        self.keys = keys or KeyCache(policy)
        self._verdicts: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        digest = hashlib.sha256(token.encode()).digest()
        now = time.time()
        cached = self._verdicts.get(digest)
        if cached is not None:
            if cached[0] > now:
                return cached[1]
            del self._verdicts[digest]
        principal = await self._verify(token)
        self._verdicts[digest] = (min(now + VERDICT_SECONDS, principal.expires_at or now), principal)
        while len(self._verdicts) > VERDICT_CACHE_SIZE:
            self._verdicts.popitem(last=False)
        return principal

    async def _verify(self, token: str) -> Principal:
        header = unverified_header(token)
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise TokenRejected(f"algorithm {alg!r} not accepted (allowed: {', '.join(self.algorithms)})")
        for name in FORBIDDEN_HEADERS:
            if name in header:
                raise TokenRejected(f"token header {name!r} not accepted")
        typ = str(header.get("typ", "")).lower()
        if self.require_at_jwt and typ not in AT_JWT_TYPES:
            raise TokenRejected("not an access token (header typ must be at+jwt, RFC 9068)")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise TokenRejected("malformed key id")
        try:
            key = await self.keys.lookup(kid)
        except KeysUnavailable as exc:
            raise TokenRejected(f"issuer keys unavailable: {exc}") from None
        if key is None:
            raise TokenRejected("unknown key id" if kid else "token names no key id")
        if key.alg and key.alg != alg:
            raise TokenRejected("key and token algorithms differ")
        try:
            decoded = jwt.decode(token, key, algorithms=[alg])
        except JoseError as exc:
            raise TokenRejected(f"signature not valid ({exc.error})") from None
        claims = decoded.claims
        self._check_claims(claims)
        scopes = scopes_from(claims, self.scope_claims)
        return Principal(subject=str(claims["sub"]), scopes=scopes, token_id=_str(claims.get("jti")),
                         client_id=_str(claims.get("client_id") or claims.get("azp")),
                         expires_at=float(claims["exp"]), via="token")

    def _check_claims(self, claims: dict[str, Any]) -> None:
        if claims.get("iss") != self.issuer:
            raise TokenRejected("wrong issuer")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.audience not in audiences:
            raise TokenRejected("token is not meant for this server (aud)")
        if not self.require_at_jwt and any(name in claims for name in ID_TOKEN_CLAIMS):
            raise TokenRejected("an ID token is not an access token")
        registry = JWTClaimsRegistry(leeway=self.leeway, exp={"essential": True}, sub={"essential": True})
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise TokenRejected(_claim_message(exc)) from None


def _claim_message(exc: JoseError) -> str:
    text = str(exc.description or exc.error)
    if exc.error == "expired_token":
        return "token expired"
    if "nbf" in text or "not valid yet" in text.lower():
        return "token not valid yet (nbf)"
    return f"token claims not valid: {text}"


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
