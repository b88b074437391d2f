"""Principal: the verified caller, built from token claims (or the local operator when auth is off)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """Who is asking: subject, granted scopes, and where the identity came from."""

    subject: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    token_id: str | None = None
    client_id: str | None = None
    expires_at: float | None = None
    via: str = "token"  # "token", "introspection" or "local" (auth off, loopback only)

    @property
    def is_local(self) -> bool:
        return self.via == "local"


LOCAL_OPERATOR = Principal(subject="local", via="local")
