"""The outage log (outage.py): one warning when the database goes, at most one reminder per period with the
count of refused calls, one info line when it is back; nothing between two outages."""

from __future__ import annotations

import logging
import time

import pytest

from slicerweb.engine.headless.dicomdb.database import redacted
from slicerweb.engine.headless.dicomdb.outage import OutageLog


def test_an_outage_is_three_kinds_of_line_not_one_per_call(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.outage")
    outage = OutageLog(logging.getLogger("test.outage"), "DICOM index db/slicerweb", reminder_seconds=0.2)
    outage.reached()  # nothing to say while all is well
    for _ in range(500):
        outage.refused("connection refused")
    time.sleep(0.25)
    for _ in range(7):
        outage.refused("connection refused")
    outage.reached()
    outage.reached()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "test.outage"]
    assert lines[0] == ("WARNING", "DICOM index db/slicerweb unreachable: connection refused; its calls are refused "
                                   "(503) until it is back")
    assert lines[1][0] == "WARNING" and lines[1][1].startswith("DICOM index db/slicerweb still unreachable after 0 s: "
                                                               "500 calls refused since the last report")
    assert lines[2][0] == "INFO" and lines[2][1].endswith("(507 calls refused meanwhile)")
    assert len(lines) == 3
    outage.refused("connection refused")  # a second outage is reported afresh
    assert [r for r in caplog.records if r.name == "test.outage"][-1].getMessage().startswith(
        "DICOM index db/slicerweb unreachable: ")


def test_a_logged_location_never_carries_a_password() -> None:
    assert redacted("postgresql://app:s3cret@db.lan/slicerweb") == "postgresql://app:***@db.lan/slicerweb"
    assert redacted("postgresql://app@db.lan/slicerweb?sslmode=require&password=s3cret") == \
        "postgresql://app@db.lan/slicerweb?sslmode=require&password=***"
    assert redacted("postgresql://app@/slicerweb?host=/run/pg") == "postgresql://app@/slicerweb?host=/run/pg"
