"""Failed-login backoff: per (username, address), doubling, capped, cleared by success, bounded table."""

from __future__ import annotations

from slicerweb.issuer.throttle import LoginThrottle


def test_backoff_starts_after_the_free_attempts_doubles_and_is_capped() -> None:
    throttle = LoginThrottle(free_attempts=2, base_delay=1, max_delay=8)
    waits = []
    for _ in range(7):
        throttle.failed("bob", "10.0.0.9", now=100.0)
        waits.append(throttle.wait("bob", "10.0.0.9", now=100.0))
    assert waits == [0, 1, 2, 4, 8, 8, 8]
    assert throttle.wait("bob", "10.0.0.9", now=108.0) == 0   # never longer than the cap
    assert throttle.wait("bob", "10.0.0.1", now=100.0) == 0   # the owner's own address is untouched
    assert throttle.wait("alice", "10.0.0.9", now=100.0) == 0
    throttle.succeeded("bob", "10.0.0.9")
    assert throttle.wait("bob", "10.0.0.9", now=100.0) == 0


def test_the_table_keeps_only_the_newest_keys() -> None:
    throttle = LoginThrottle(free_attempts=0, max_keys=100)
    for index in range(1000):
        throttle.failed(f"user{index}", "10.0.0.9", now=1.0)
    assert throttle.wait("user0", "10.0.0.9", now=1.0) == 0
    assert throttle.wait("user999", "10.0.0.9", now=1.0) > 0
    assert len(throttle._failures) == 100
