"""The issuer's user accounts: scrypt password hashes at rest, the users file, password checks.

The file is JSON, `{"users": [{"username": ..., "password_hash": ..., "scopes": "a b c"}]}`, mode
0600 (refused when group or others can read it, as ssh does with keys). Hashes use the standard
library's scrypt (RFC 7914): memory-hard, no new dependency; argon2 would need argon2-cffi, which is
not installed here. Hash format: `scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

LOG2_N, BLOCK_SIZE, PARALLELISM = 14, 8, 1      # 16 MiB and ~50 ms per hash (OWASP's scrypt minimum)
MAX_LOG2_N, MAX_BLOCK_SIZE, MAX_PARALLELISM = 17, 16, 4   # a hostile file cannot make a check cost more
_KEY_LENGTH = 32


def hash_password(password: str) -> str:
    """A fresh scrypt hash of `password` with a random salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, LOG2_N, BLOCK_SIZE, PARALLELISM)
    return "$".join(["scrypt", str(LOG2_N), str(BLOCK_SIZE), str(PARALLELISM), _b64(salt), _b64(digest)])


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches `encoded`; False for a wrong password or a malformed hash."""
    try:
        scheme, log2_n, block_size, parallelism, salt, digest = encoded.split("$")
        n, r, p = int(log2_n), int(block_size), int(parallelism)
        if scheme != "scrypt" or not (1 <= n <= MAX_LOG2_N and 1 <= r <= MAX_BLOCK_SIZE and 1 <= p <= MAX_PARALLELISM):
            return False
        expected = _unb64(digest)
        actual = _scrypt(password, _unb64(salt), n, r, p, len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


@dataclass(frozen=True)
class User:
    username: str
    password_hash: str
    scopes: tuple[str, ...]


class UserStore:
    """The accounts the login page accepts."""

    def __init__(self, users: Iterable[User] = ()) -> None:
        self.users = {user.username: user for user in users}
        # Checked against for unknown names, so "no such user" costs the same as "wrong password".
        self._decoy = hash_password(secrets.token_urlsafe(16))

    @classmethod
    def load(cls, path: Path) -> UserStore:
        """Read a users file; ValueError (naming the file and the problem) when it is unusable."""
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ValueError(f"{path}: readable by others (mode {stat.S_IMODE(mode):o}); run chmod 600 {path}")
        try:
            entries = json.loads(path.read_text())["users"]
            users = [User(str(e["username"]), str(e["password_hash"]), tuple(str(e.get("scopes", "")).split()))
                     for e in entries]
        except (KeyError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: expected {{\"users\": [{{\"username\", \"password_hash\", \"scopes\"}}]}}"
                             f" ({exc})") from None
        if any(not u.username or not u.password_hash.startswith("scrypt$") for u in users):
            raise ValueError(f"{path}: every user needs a username and a scrypt password_hash "
                             "(make one with: slicerweb issuer hash-password)")
        return cls(users)

    def check(self, username: str, password: str) -> User | None:
        """The user when the password is right; None for a wrong password or an unknown name alike."""
        user = self.users.get(username)
        ok = verify_password(password, user.password_hash if user else self._decoy)
        return user if ok and user is not None else None


def write_users_file(path: Path | str, users: Iterable[tuple[str, str, str]]) -> Path:
    """Write (username, password, scopes) accounts as a users file (mode 0600, hashes only)."""
    path = Path(path)
    document = {"users": [{"username": name, "password_hash": hash_password(password), "scopes": scopes}
                          for name, password, scopes in users]}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
    os.replace(temporary, path)   # atomic: a reader never sees half a file
    return path


def _scrypt(password: str, salt: bytes, log2_n: int, block_size: int, parallelism: int,
            length: int = _KEY_LENGTH) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=block_size, p=parallelism,
                          maxmem=130 * n * block_size * parallelism + (1 << 20), dklen=length)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError(str(exc)) from None
