"""The issuer's signing keys, cached: discovery -> jwks_uri -> {kid: public key}.

Keys come only from the pinned issuer: its `/.well-known/openid-configuration` (whose `issuer` must
equal the configured one, ASVS 10.5.3) or a configured `auth.jwks_url`. Symmetric (`oct`) and
encryption keys are dropped, so an HMAC "signature" made with a published key has nothing to verify
against. An unknown `kid` triggers a refresh at most once per `auth.jwks_min_refresh_seconds`, so a
stream of random kids cannot become a stream of fetches; keys older than `MAX_AGE` are refreshed on
the next lookup. Lookups never do I/O once the key is cached: verification stays CPU-only.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.jwk import ECKey, OKPKey, RSAKey, import_key

from ..policy import Policy

PublicKey = RSAKey | ECKey | OKPKey
MAX_AGE = 600.0
FETCH_TIMEOUT = 10.0
log = logging.getLogger("slicerweb.auth")


class KeysUnavailable(Exception):
    """The issuer's keys could not be fetched (the message says why)."""


@dataclass(frozen=True)
class KeySnapshot:
    keys: dict[str, PublicKey]
    fetched_at: float


def tls_context(ca_file: str) -> ssl.SSLContext:
    """Verification context for the issuer: the system store, plus a LAN CA when configured."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)
    return context


def parse_jwks(document: Any) -> dict[str, PublicKey]:
    """{kid: key} from a JWKS document: signing keys only, no symmetric keys.

    >>> parse_jwks({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}]})
    {}
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeysUnavailable("JWKS document has no 'keys' list")
    keys: dict[str, PublicKey] = {}
    for index, entry in enumerate(document["keys"]):
        if not isinstance(entry, dict) or entry.get("kty") not in ("RSA", "EC", "OKP"):
            continue
        if entry.get("use", "sig") != "sig":
            continue
        public = {k: v for k, v in entry.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
        try:
            key = import_key(public)
        except Exception as exc:  # a malformed key must not hide the good ones
            log.warning("ignoring JWKS key %d: %s", index, exc)
            continue
        kid = str(entry.get("kid") or f"#{index}")
        keys[kid] = key  # type: ignore[assignment]  # kty filtered above
    return keys


class KeyCache:
    """Signing keys of one issuer, refreshed on demand at a bounded rate."""

    def __init__(self, policy: Policy) -> None:
        auth = policy.auth
        self.issuer = auth.issuer
        self.jwks_url = auth.jwks_url
        self.min_refresh: float = auth.jwks_min_refresh_seconds
        self._verify = tls_context(auth.ca_file)
        self._snapshot = KeySnapshot({}, 0.0)
        self._last_attempt = float("-inf")
        self._lock = asyncio.Lock()
        self.fetches = 0

    @property
    def keys(self) -> dict[str, PublicKey]:
        return self._snapshot.keys

    async def lookup(self, kid: str | None) -> PublicKey | None:
        """The key for `kid` (None: the only key), refreshing when unknown and allowed; else None."""
        snapshot = self._snapshot
        if time.monotonic() - snapshot.fetched_at > MAX_AGE or _pick(snapshot.keys, kid) is None:
            await self.refresh()
        return _pick(self._snapshot.keys, kid)

    async def refresh(self, *, force: bool = False) -> None:
        """Fetch the JWKS again unless one was attempted within `min_refresh` seconds."""
        async with self._lock:
            now = time.monotonic()
            if not force and now - self._last_attempt < self.min_refresh:
                return
            self._last_attempt = now
            try:
                keys = await self._fetch()
            except (httpx.HTTPError, KeysUnavailable, ValueError) as exc:
                log.warning("JWKS refresh failed: %s", exc)
                if not self._snapshot.keys:
                    raise KeysUnavailable(str(exc)) from None
                return
            self._snapshot = KeySnapshot(keys, time.monotonic())

    async def _fetch(self) -> dict[str, PublicKey]:
        self.fetches += 1
        async with httpx.AsyncClient(verify=self._verify, timeout=FETCH_TIMEOUT,
                                     follow_redirects=False) as client:
            url = self.jwks_url or await self._discover(client)
            response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            return parse_jwks(response.json())

    async def _discover(self, client: httpx.AsyncClient) -> str:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        response = await client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            raise KeysUnavailable(f"discovery document at {url} names another issuer "
                                  f"({document.get('issuer') if isinstance(document, dict) else '?'!r})")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise KeysUnavailable(f"discovery document at {url} has no usable jwks_uri")
        return jwks_uri


def _pick(keys: dict[str, PublicKey], kid: str | None) -> PublicKey | None:
    if kid is not None:
        return keys.get(kid)
    # No kid: acceptable only when the issuer publishes exactly one key (RFC 8725 §3.10 spirit).
    return next(iter(keys.values())) if len(keys) == 1 else None
