"""The issuer's memory stays bounded in size and age."""

from __future__ import annotations

from slicerweb.issuer.grants import ExpiringTable


def test_expiring_table_is_bounded_and_forgets_expired_entries() -> None:
    table: ExpiringTable[int] = ExpiringTable(max_entries=50)
    for index in range(500):
        table.put(str(index), index, 60)
    assert len(table.values()) == 50 and table.get("0") is None and table.get("499") == 499
    table.put("gone", 1, -1)
    assert table.get("gone") is None and table.pop("gone") is None
