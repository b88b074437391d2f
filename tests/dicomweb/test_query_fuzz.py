"""Fuzzing `dicomweb/query.py` and the QIDO routes behind it: any query string ends in a SearchQuery
(numeric values the engine can use) or a 400 naming the parameter; through the app, every QIDO
request answers 200/204 or a 4xx JSON error, never a 5xx."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from audit.known_open import owner_of
from slicerweb.dicomweb.query import NUMERIC_VRS, _vr, parse_search
from slicerweb.errors import BadRequest
from tests.fuzzing import MiB, bounded_memory

pytestmark = pytest.mark.fuzz

KEYS = st.sampled_from(["PatientName", "PatientID", "StudyDate", "StudyTime", "AcquisitionDateTime", "Modality",
                        "ModalitiesInStudy", "StudyInstanceUID", "SeriesInstanceUID", "InstanceNumber",
                        "NumberOfFrames", "00100010", "00200013", "0020000D", "limit", "offset", "fuzzymatching",
                        "includefield", "orderby", "ReferencedSeriesSequence.SeriesInstanceUID", "charset",
                        "NotAKeyword", "FFFFFFFF", "StudyDescription"])
VALUE_CHARS = st.sampled_from([*list("0123456789*?-,\\^ .+:"), "²", "٣", "a", "Z", "é", "\x00"])
NUMBERISH = st.text(alphabet=st.sampled_from([*list("0123456789+-"), "²", "٣"]), min_size=1, max_size=25)
VALUES = st.one_of(NUMBERISH, st.text(alphabet=VALUE_CHARS, max_size=40),
                   st.integers(min_value=-(2 ** 70), max_value=2 ** 70).map(str),
                   st.sampled_from(["", "*", "20240101-20241231", "20241399", "-20240101", "1.2.3\\4.5", "DOE^J*",
                                    "true", "all"]),
                   st.text(max_size=30))
ARGS = st.dictionaries(st.one_of(KEYS, st.text(max_size=12)), st.lists(VALUES, min_size=1, max_size=3), max_size=6)


def _non_ascii_digits(args: dict[str, list[str]]) -> bool:
    return any(ch.isdigit() and not ch.isascii() for values in args.values() for v in values for ch in v)


def _repeated_sign(args: dict[str, list[str]]) -> bool:
    return any(re.search(r"(^|[,\\])\s*[+-]{2,}", v) for values in args.values() for v in values)


@given(ARGS, st.sampled_from(["study", "series", "instance"]))
def test_parse_search_ends_in_a_query_or_a_400(args: dict[str, list[str]], level: str) -> None:
    if owner_of("qido.unicode_digit_integer"):
        assume(not _non_ascii_digits(args))
    if owner_of("qido.repeated_sign_integer"):
        assume(not _repeated_sign(args))
    try:
        with bounded_memory(8 * MiB):
            parsed = parse_search(args, level, limits=(100, 1000))  # type: ignore[arg-type]
    except BadRequest as exc:
        assert exc.status == 400 and str(exc)
        return
    query = parsed.query
    assert 1 <= query.limit <= 1000 and query.offset >= 0
    for match in query.matches:
        if _vr(match.tag) in NUMERIC_VRS:
            for value in match.values:
                int(value)  # the engine compares numerically: every accepted value must be an integer


@pytest.fixture
async def qido_client(dicom_app: Callable[..., Any]) -> Any:
    return (await dicom_app()).client


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ARGS, st.sampled_from(["/dicom/studies", "/dicom/series", "/dicom/instances"]))
async def test_qido_request_answers_2xx_or_4xx_json(qido_client: Any, args: dict[str, list[str]], path: str) -> None:
    if owner_of("qido.unicode_digit_integer"):
        assume(not _non_ascii_digits(args))
    if owner_of("qido.repeated_sign_integer"):
        assume(not _repeated_sign(args))
    if owner_of("qido.integer_beyond_int64"):
        assume(not any(v.strip().lstrip("+-").isdigit() and abs(int(v)) >= 2 ** 63
                       for values in args.values() for v in values if v.strip().lstrip("+-").isascii()))
    note(f"args={args!r}")
    query = urllib.parse.urlencode([(k, v) for k, values in args.items() for v in values])
    response = await qido_client.get(f"{path}?{query}")
    assert response.status_code in (200, 204) or 400 <= response.status_code < 500, \
        (response.status_code, await response.get_data(as_text=True))
    if response.status_code >= 400:
        body = await response.get_json()
        assert response.content_type == "application/json" and body["success"] is False and body["message"]
