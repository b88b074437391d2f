"""Fuzzing `dicomweb/accept.py`: any Accept header ends in a negotiated choice or a 406 ApiError,
never another exception; parse_accept only returns ranges with 0 < q <= 1, best first."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slicerweb.dicomweb import accept
from slicerweb.errors import ApiError
from tests.fuzzing import MiB, bounded_memory

pytestmark = pytest.mark.fuzz

MEDIA = st.sampled_from(["application/dicom", "application/dicom+json", "application/json", "multipart/related",
                         "image/jpeg", "image/png", "*/*", "image/*", "application/octet-stream", "a/b", "x"])
PARAMS = st.sampled_from(['type="application/dicom"', "type=application/dicom+xml", "transfer-syntax=*",
                          "transfer-syntax=1.2.840.10008.1.2", "transfer-syntax=1.2.840.10008.1.2.1",
                          'transfer-syntax="1.2..3"', "q=0.5", "q=0", "q=1.5", "q=nan", "q=inf", "q=-1", "q=",
                          "=", ";", '"', "type=*/*"])
RANGE = st.builds(lambda media, params: ";".join([media, *params]), MEDIA, st.lists(PARAMS, max_size=4))
# Structured headers (lists of plausible ranges) and raw text with the delimiter characters over-represented.
HEADERS = st.one_of(st.none(), st.lists(RANGE, max_size=6).map(", ".join),
                    st.text(alphabet=st.sampled_from([*list(',;="*/ q=.\t'), "a", "1", "é", "\x00"]), max_size=200),
                    st.text(max_size=300))


@given(HEADERS)
def test_parse_accept_returns_valid_ranges_in_preference_order(header: str | None) -> None:
    with bounded_memory(4 * MiB):
        ranges = accept.parse_accept(header)
    assert all(0 < r.q <= 1 for r in ranges)
    assert [r.q for r in ranges] == sorted((r.q for r in ranges), reverse=True)
    assert all(accept.TOKEN.match(r.media_type) for r in ranges)


@given(HEADERS, st.booleans(), st.one_of(st.none(), HEADERS))
def test_negotiation_ends_in_a_choice_or_a_4xx(header: str | None, single: bool, accept_param: str | None) -> None:
    for negotiate in (lambda: accept.negotiate_dicom_json(header),
                      lambda: accept.negotiate_instances(header, single=single),
                      lambda: accept.frame_choices(header, single=single),
                      lambda: accept.negotiate_rendered(header, accept_param)):
        try:
            chosen = negotiate()
        except ApiError as exc:
            assert 400 <= exc.status < 500 and str(exc)
        else:
            assert chosen is not None
