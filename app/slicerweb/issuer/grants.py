"""What the issuer remembers between requests: pending sign-ins, login sessions, codes, refresh tokens.

All in memory (the issuer is a development tool), every table bounded in size and age. Refresh tokens
are stored by their SHA-256 only and grouped in families (one per sign-in): each use rotates the token;
presenting a spent one again revokes the whole family (RFC 9700 §4.14.2), as does replaying the
authorization code the family came from (RFC 6749 §4.1.2) or ending the login session.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Generic, TypedDict, TypeVar, Unpack

MAX_ENTRIES = 10_000
PENDING_LIFETIME = 600.0
CODE_LIFETIME = 60.0
SESSION_LIFETIME = 8 * 3600.0
REFRESH_LIFETIME = 8 * 3600.0

V = TypeVar("V")


class ExpiringTable(Generic[V]):
    """key -> value with an expiry time; at most `max_entries` (the oldest go first)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def put(self, key: str, value: V, lifetime: float) -> None:
        now = time.time()
        self._entries.pop(key, None)
        self._entries[key] = (now + lifetime, value)
        while self._entries and (len(self._entries) > self.max_entries or next(iter(self._entries.values()))[0] < now):
            self._entries.popitem(last=False)

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.time():
            return None
        return entry[1]

    def pop(self, key: str) -> V | None:
        value = self.get(key)
        self._entries.pop(key, None)
        return value

    def values(self) -> list[V]:
        now = time.time()
        return [value for expires, value in self._entries.values() if expires >= now]


class PendingFields(TypedDict):
    """What an authorization request carries into its PendingRequest (all but `id` and `csrf`)."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    challenge: str | None
    browser: str


@dataclass
class PendingRequest:
    """An authorization request waiting for the login form; `csrf` and `browser` bind the form to it."""

    id: str
    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    challenge: str | None
    browser: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))


@dataclass
class Session:
    """The issuer's own login session (its cookie), shared by every client's sign-in."""

    id: str
    username: str
    auth_time: int


@dataclass
class CodeGrant:
    client_id: str
    redirect_uri: str
    challenge: str | None
    username: str
    scope: str
    nonce: str | None
    auth_time: int
    session_id: str
    used: bool = False
    family: str | None = None     # the refresh family its tokens started, revoked on replay


@dataclass
class RefreshGrant:
    family: str
    client_id: str
    username: str
    scope: str
    auth_time: int
    session_id: str
    used: bool = False


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class GrantStore:
    """The issuer's memory; one per issuer process."""

    def __init__(self, *, session_lifetime: float = SESSION_LIFETIME,
                 refresh_lifetime: float = REFRESH_LIFETIME) -> None:
        self.session_lifetime, self.refresh_lifetime = session_lifetime, refresh_lifetime
        self.pending: ExpiringTable[PendingRequest] = ExpiringTable()
        self.sessions: ExpiringTable[Session] = ExpiringTable()
        self.codes: ExpiringTable[CodeGrant] = ExpiringTable()
        self.refresh: ExpiringTable[RefreshGrant] = ExpiringTable()
        self.revoked_families: ExpiringTable[bool] = ExpiringTable()

    def open_pending(self, **fields: Unpack[PendingFields]) -> PendingRequest:
        request = PendingRequest(id=secrets.token_urlsafe(16), **fields)
        self.pending.put(request.id, request, PENDING_LIFETIME)
        return request

    def open_session(self, username: str) -> Session:
        session = Session(secrets.token_urlsafe(32), username, int(time.time()))
        self.sessions.put(session.id, session, self.session_lifetime)
        return session

    def end_session(self, session_id: str) -> Session | None:
        """Forget the session and revoke every refresh family it started."""
        session = self.sessions.pop(session_id)
        for grant in self.refresh.values():
            if grant.session_id == session_id:
                self.revoke_family(grant.family)
        return session

    def issue_code(self, grant: CodeGrant) -> str:
        code = secrets.token_urlsafe(32)
        self.codes.put(code, grant, CODE_LIFETIME)
        return code

    def issue_refresh(self, grant: RefreshGrant) -> str:
        token = secrets.token_urlsafe(32)
        self.refresh.put(digest(token), grant, self.refresh_lifetime)
        return token

    def revoke_family(self, family: str) -> None:
        self.revoked_families.put(family, True, self.refresh_lifetime)

    def family_revoked(self, family: str) -> bool:
        return bool(self.revoked_families.get(family))
