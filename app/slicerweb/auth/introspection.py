"""RFC 7662 token introspection for opaque access tokens (`auth.mode = "introspection"`).

The resource server authenticates to the introspection endpoint with `auth.client_id` and the
secret in `auth.client_secret_file` (HTTP Basic, §2.1). Only `active: true` answers count, and the
answer is then checked like a JWT: `iss` (when configured), `aud` (when the answer carries one),
`exp`. Answers are cached by the token's SHA-256 for at most `CACHE_SECONDS` and never past `exp`
(§4), so a revoked token stops working within seconds.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from pathlib import Path

import httpx

from ..policy import Policy
from .identity import Principal
from .jwks import FETCH_TIMEOUT, tls_context
from .tokens import TokenRejected, scopes_from

CACHE_SECONDS = 30.0
CACHE_SIZE = 4096


class IntrospectionVerifier:
    """Asks the issuer whether an opaque token is active, and for whom."""

    def __init__(self, policy: Policy) -> None:
        auth = policy.auth
        self.url = auth.introspection_url
        self.issuer = auth.issuer
        self.audience = auth.audience
        self.leeway = auth.leeway
        self.scope_claims = auth.scope_claims
        secret = Path(auth.client_secret_file).read_text().strip() if auth.client_secret_file else ""
        self._auth = (auth.client_id, secret) if auth.client_id else None
        self._verify = tls_context(auth.ca_file)
        self._cache: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    async def verify(self, token: str) -> Principal:
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.time()
        cached = self._cache.get(digest)
        if cached and cached[0] > now:
            return cached[1]
        answer = await self._introspect(token)
        principal = self._principal(answer, now)
        until = min(now + CACHE_SECONDS, principal.expires_at or now + CACHE_SECONDS)
        self._cache[digest] = (until, principal)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return principal

    async def _introspect(self, token: str) -> dict[str, object]:
        try:
            async with httpx.AsyncClient(verify=self._verify, timeout=FETCH_TIMEOUT, auth=self._auth) as client:
                response = await client.post(self.url, data={"token": token, "token_type_hint": "access_token"},
                                             headers={"Accept": "application/json"})
            response.raise_for_status()
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise TokenRejected(f"introspection failed: {type(exc).__name__}") from None
        if not isinstance(answer, dict):
            raise TokenRejected("introspection answer is not a JSON object")
        return answer

    def _principal(self, answer: dict[str, object], now: float) -> Principal:
        if answer.get("active") is not True:
            raise TokenRejected("token not active")
        if self.issuer and answer.get("iss") not in (None, self.issuer):
            raise TokenRejected("wrong issuer")
        audience = answer.get("aud")
        if audience is not None and self.audience:
            audiences = audience if isinstance(audience, list) else [audience]
            if self.audience not in audiences:
                raise TokenRejected("token is not meant for this server (aud)")
        exp = answer.get("exp")
        if not isinstance(exp, (int, float)) or exp <= now - self.leeway:
            raise TokenRejected("token expired")
        nbf = answer.get("nbf")
        if isinstance(nbf, (int, float)) and nbf > now + self.leeway:
            raise TokenRejected("token not valid yet (nbf)")
        subject = answer.get("sub") or answer.get("username") or answer.get("client_id")
        if not isinstance(subject, str):
            raise TokenRejected("introspection answer names no subject")
        client_id = answer.get("client_id")
        return Principal(subject=subject, scopes=scopes_from(answer, self.scope_claims),
                         client_id=client_id if isinstance(client_id, str) else None,
                         expires_at=float(exp), via="introspection")
