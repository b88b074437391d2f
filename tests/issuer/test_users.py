"""Users at rest: scrypt hashes in a mode-0600 file; wrong and unknown users alike."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from slicerweb.issuer.users import UserStore, hash_password, verify_password, write_users_file


def test_write_users_file_stores_hashes_only_in_a_private_file(tmp_path: Path) -> None:
    path = write_users_file(tmp_path / "users.json", [("alice", "s3cret pw", "dicomweb.read slicer.read")])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "s3cret" not in text
    entry = json.loads(text)["users"][0]
    assert entry["username"] == "alice" and entry["scopes"] == "dicomweb.read slicer.read"
    assert entry["password_hash"].startswith("scrypt$14$8$1$")
    store = UserStore.load(path)
    user = store.check("alice", "s3cret pw")
    assert user is not None and user.scopes == ("dicomweb.read", "slicer.read")
    assert store.check("alice", "s3cret pw ") is None and store.check("bob", "s3cret pw") is None


def test_same_password_hashes_differently_each_time() -> None:
    first, second = hash_password("pw"), hash_password("pw")
    assert first != second and verify_password("pw", first) and verify_password("pw", second)


@pytest.mark.parametrize("encoded", ["", "scrypt$14$8$1$AAAA", "bcrypt$14$8$1$AAAA$AAAA", "scrypt$x$8$1$AA$AA",
                                     "scrypt$30$8$1$AAAA$AAAA",   # 2^30 * 8 * 128 bytes: would take 1 TiB
                                     "scrypt$14$8$1$!!$AAAA"])
def test_malformed_or_too_costly_hashes_never_match(encoded: str) -> None:
    assert verify_password("pw", encoded) is False


def test_a_users_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = write_users_file(tmp_path / "users.json", [("alice", "pw", "")])
    path.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        UserStore.load(path)


@pytest.mark.parametrize("content", ['{"people": []}', "not json", '{"users": [{"username": "a"}]}',
                                     '{"users": [{"username": "a", "password_hash": "plain"}]}'])
def test_a_malformed_users_file_is_one_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "users.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(ValueError, match=str(path)):
        UserStore.load(path)
