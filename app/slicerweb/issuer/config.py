"""IssuerConfig: everything one issuer process knows (keys, clients, users, its in-memory grants)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .clients import Client, origin_of
from .grants import GrantStore
from .signing import DEFAULT_LIFETIME, SigningKeys
from .throttle import LoginThrottle
from .users import UserStore

# Scopes about the sign-in itself (OIDC), never about SlicerWeb's resources.
PROTOCOL_SCOPES = ("openid", "profile", "offline_access")


@dataclass
class IssuerConfig:
    issuer: str
    audience: str
    keys: SigningKeys
    clients: dict[str, Client]
    lifetime: float = DEFAULT_LIFETIME
    opaque: bool = False
    users: UserStore = field(default_factory=UserStore)
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    grants: GrantStore = field(default_factory=GrantStore)
    cors_origins: tuple[str, ...] = ()      # besides the origins of the clients' redirect URIs
    _opaque: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return self.issuer.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    @property
    def allowed_origins(self) -> frozenset[str]:
        """Exact origins whose pages may read the token, userinfo, discovery and JWKS answers."""
        return frozenset({*self.cors_origins,
                          *(origin_of(uri) for c in self.clients.values() for uri in c.redirect_uris)})


def granted_scope(client: Client, asked: str | None, user_scopes: tuple[str, ...] | None = None) -> str:
    """The scopes a token gets: asked ∩ client's (∩ user's); nothing asked means all of them.

    OIDC scopes (openid, profile, offline_access) pass through when asked; asking only for them
    still grants the user's resource scopes, so `scope=openid` signs a viewer in with its rights.
    """
    words = (asked or "").split()
    protocol = [s for s in PROTOCOL_SCOPES if s in words]
    allowed = [s for s in client.scopes if user_scopes is None or s in user_scopes]
    resource = [s for s in words if s not in PROTOCOL_SCOPES]
    return " ".join(protocol + ([s for s in resource if s in allowed] if resource else allowed))
