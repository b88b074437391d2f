"""The JWKS cache: keys from the pinned issuer only, refresh on unknown kid at a bounded rate."""

from __future__ import annotations

import pytest

from slicerweb.auth.jwks import KeyCache, KeysUnavailable, parse_jwks
from slicerweb.policy import default_policy
from tests.oidc import RunningIssuer


def cache(issuer_url: str, audience: str, **auth: object) -> KeyCache:
    changes = {"auth.mode": "jwt", "auth.issuer": issuer_url, "auth.audience": audience}
    changes.update({f"auth.{k}": v for k, v in auth.items()})
    return KeyCache(default_policy().replace(**changes))


async def test_random_kids_cannot_trigger_a_fetch_storm(issuer: RunningIssuer) -> None:
    keys = cache(issuer.url, issuer.audience, jwks_min_refresh_seconds=60)
    assert await keys.lookup(issuer.keys.current.kid) is not None
    for index in range(50):
        assert await keys.lookup(f"random-{index}") is None
    assert keys.fetches == 1


async def test_known_kid_needs_no_io(issuer: RunningIssuer) -> None:
    keys = cache(issuer.url, issuer.audience)
    for _ in range(20):
        assert await keys.lookup(issuer.keys.current.kid) is not None
    assert keys.fetches == 1


async def test_discovery_for_another_issuer_is_refused(issuer: RunningIssuer) -> None:
    keys = cache(issuer.url + "/", issuer.audience)  # discovery answers without the slash: not equal
    with pytest.raises(KeysUnavailable, match="another issuer"):
        await keys.lookup(issuer.keys.current.kid)


def test_symmetric_and_encryption_keys_are_dropped(issuer: RunningIssuer) -> None:
    document = issuer.keys.public_jwks()
    document["keys"] += [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
                         {**document["keys"][0], "kid": "enc", "use": "enc"}]
    assert list(parse_jwks(document)) == [issuer.keys.current.kid]
