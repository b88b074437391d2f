"""A short schemathesis run (audit/openapi_fuzz.py) against a live app: a few generated requests per
operation of /slicer/openapi.json, stateless and stateful; no 5xx, every status, content type,
header and body as documented. `make audit` runs the long version."""

from __future__ import annotations

from pathlib import Path

import pytest

from audit import openapi_fuzz

pytestmark = pytest.mark.skipif(not openapi_fuzz.available(), reason="schemathesis not installed")


def test_short_schemathesis_run_finds_nothing(tmp_path: Path) -> None:
    run = openapi_fuzz.run(tmp_path, max_examples=3, phases="fuzzing,stateful")
    assert run.operations >= 40 and run.test_cases > run.operations, run.output[-3000:]
    assert run.ok, "\n".join(run.failures) + run.output[-6000:]
    assert "Traceback" not in run.server_log
