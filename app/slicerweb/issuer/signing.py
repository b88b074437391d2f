"""The issuer's signing keys (a private JWKS file) and RFC 9068 access-token minting.

The same file lets a test mint tokens the running issuer would have minted, and deliberately bad
ones (expired, wrong audience, `alg=none`, HS256 with the public key, ...) to prove they are refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import KeySet, KeySetSerialization, RSAKey

DEFAULT_LIFETIME = 300


class SigningKeys:
    """RSA signing keys with stable kids; the first one signs."""

    def __init__(self, keys: list[RSAKey]) -> None:
        if not keys:
            raise ValueError("at least one signing key is needed")
        self.keys = keys

    @classmethod
    def generate(cls, count: int = 1) -> SigningKeys:
        return cls([RSAKey.generate_key(2048, parameters={"kid": f"k{index + 1}-{secrets.token_hex(4)}",
                                                          "use": "sig", "alg": "RS256"})
                    for index in range(count)])

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKeys:
        """Read the private JWKS at `path`, or create it (mode 0600)."""
        if path.exists():
            data = json.loads(path.read_text())
            return cls([RSAKey.import_key(entry) for entry in data["keys"]])
        keys = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(keys.private_jwks(), handle)
        return keys

    @property
    def current(self) -> RSAKey:
        return self.keys[0]

    def public_jwks(self) -> KeySetSerialization:
        return KeySet(list(self.keys)).as_dict(private=False)

    def private_jwks(self) -> KeySetSerialization:
        return KeySet(list(self.keys)).as_dict(private=True)

    def sign(self, claims: dict[str, Any], header: dict[str, Any] | None = None,
             key: RSAKey | None = None) -> str:
        """A compact JWS over `claims`; the header defaults to RS256, at+jwt and the key's kid."""
        key = key or self.current
        full = {"alg": "RS256", "typ": "at+jwt", "kid": key.kid, **(header or {})}
        full = {k: v for k, v in full.items() if v is not None}
        return jwt.encode(full, claims, key, algorithms=[full["alg"]])

    def access_token(self, *, issuer: str, audience: str | list[str], subject: str, scope: str,
                     client_id: str, lifetime: float = DEFAULT_LIFETIME, now: float | None = None,
                     extra: dict[str, Any] | None = None, header: dict[str, Any] | None = None) -> str:
        """An RFC 9068 access token (claims iss, sub, aud, exp, iat, jti, client_id, scope)."""
        now = time.time() if now is None else now
        claims = {"iss": issuer, "sub": subject, "aud": audience, "iat": int(now), "nbf": int(now),
                  "exp": int(now + lifetime), "jti": secrets.token_urlsafe(16), "client_id": client_id,
                  "scope": scope, **(extra or {})}
        return self.sign({k: v for k, v in claims.items() if v is not None}, header)


def unsigned_token(claims: dict[str, Any]) -> str:
    """An `alg=none` token (for negative tests): header.payload. with an empty signature."""
    def b64(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{b64({'alg': 'none', 'typ': 'at+jwt'})}.{b64(claims)}."


def hmac_with_public_key(keys: SigningKeys, claims: dict[str, Any]) -> str:
    """An HS256 token keyed with the issuer's *public* key PEM: the classic key-confusion forgery.

    Built by hand: joserfc itself refuses to use an asymmetric public key as an HMAC secret.
    """
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    secret = keys.current.as_pem(private=False)
    header = {"alg": "HS256", "typ": "at+jwt", "kid": keys.current.kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"
