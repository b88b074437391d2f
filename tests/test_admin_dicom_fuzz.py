"""Fuzzing the body of POST /admin/api/dicom/check (`admin_dicom.parse_options`): any bytes give options
within bounds or one BadRequest naming what is wrong, never another exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slicerweb.admin_dicom import MAX_EXAMPLES, parse_options
from slicerweb.errors import BadRequest
from tests.fuzzing import MiB, bounded_memory

pytestmark = pytest.mark.fuzz

JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                      max_size=3), max_leaves=8)
BODIES = st.one_of(st.binary(max_size=200),
                   st.dictionaries(st.sampled_from(["repair", "examples", "other"]), JSON_VALUES, max_size=3)
                   .map(lambda body: json.dumps(body).encode()))


@given(BODIES)
def test_any_body_gives_bounded_options_or_one_bad_request(body: bytes) -> None:
    with bounded_memory(MiB):
        try:
            repair, examples = parse_options(body)
        except BadRequest as exc:
            assert exc.status == 400 and exc.message
            return
    assert isinstance(repair, bool) and isinstance(examples, int) and 0 <= examples <= MAX_EXAMPLES
