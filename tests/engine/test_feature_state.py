"""`engine/feature_state.py`: runtime feature overrides in SQLite, shared by every instance on a data dir.

Contract: what one store (one server process) writes, another store on the same file reads at once;
every connection a call opens is closed before the call returns (a connection left to the garbage
collector holds a file descriptor and, from Python 3.13, raises ResourceWarning, which the suite
treats as an error).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from slicerweb.engine.feature_state import SqliteFeatureStore
from slicerweb.engine.protocol import FeatureOverride


class TrackedConnection(sqlite3.Connection):
    """A connection that remembers whether it was closed."""

    opened: list[TrackedConnection] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.closed = False
        TrackedConnection.opened.append(self)

    def close(self) -> None:
        self.closed = True
        super().close()


@pytest.fixture
def tracked(monkeypatch: pytest.MonkeyPatch) -> list[TrackedConnection]:
    real = sqlite3.connect
    TrackedConnection.opened = []

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return real(*args, factory=TrackedConnection, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    return TrackedConnection.opened


async def test_every_connection_is_closed(tmp_path: Path, tracked: list[TrackedConnection]) -> None:
    store = SqliteFeatureStore(tmp_path / "features.sqlite")
    now = time.time()
    await store.set_override(FeatureOverride("exec", True, now + 60, "alice", now))
    await store.overrides(now)
    await store.clear_override("exec")
    assert len(tracked) == 4  # schema, set, read, clear
    assert [c.closed for c in tracked] == [True] * 4


async def test_a_failed_write_closes_its_connection_and_changes_nothing(tmp_path: Path,
                                                                       tracked: list[TrackedConnection]) -> None:
    store = SqliteFeatureStore(tmp_path / "features.sqlite")
    now = time.time()
    kept = FeatureOverride("exec", True, None, "alice", now)
    await store.set_override(kept)
    with pytest.raises(sqlite3.Error):
        await store.set_override(FeatureOverride("exec", False, None, None, now))  # type: ignore[arg-type]
    assert all(c.closed for c in tracked)
    assert await store.overrides(now) == {"exec": kept}


async def test_two_stores_on_one_file_see_each_others_overrides(tmp_path: Path) -> None:
    """Two server processes behind one proxy share the data directory: no per-process state."""
    first, second = SqliteFeatureStore(tmp_path / "f.sqlite"), SqliteFeatureStore(tmp_path / "f.sqlite")
    now = time.time()
    change = FeatureOverride("dicomweb_write", True, None, "root", now)
    await first.set_override(change)
    assert await second.overrides(now) == {"dicomweb_write": change}
    assert await second.clear_override("dicomweb_write") == change
    assert await first.overrides(now) == {}
