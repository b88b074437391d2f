"""QIDO parameter parsing (PS3.18 §8.3.4): attribute ids, matching kinds by VR, includefield, paging."""

from __future__ import annotations

import pytest

from slicerweb.dicomweb.query import parse_search
from slicerweb.errors import BadRequest

LIMITS = (100, 1000)


def parse(**args: list[str]):
    return parse_search(args, "study", limits=LIMITS)


def test_keywords_and_hex_tags_are_the_same_key() -> None:
    by_keyword = parse(PatientID=["P1"]).query.matches
    by_tag = parse(**{"00100020": ["P1"]}).query.matches
    assert by_keyword == by_tag and by_keyword[0].kind == "single"


def test_matching_kinds_follow_the_vr() -> None:
    matches = {m.keyword: m for m in parse(
        StudyInstanceUID=["1.2\\1.3,1.4"], StudyDate=["20200101-"], PatientName=["Do?^J*"],
        ModalitiesInStudy=["CT,MR"], AccessionNumber=["*"], StudyDescription=[""]).query.matches}
    assert matches["StudyInstanceUID"].kind == "list"
    assert matches["StudyInstanceUID"].values == ("1.2", "1.3", "1.4")
    assert (matches["StudyDate"].kind, matches["StudyDate"].values) == ("range", ("20200101", ""))
    assert matches["PatientName"].kind == "wildcard"
    assert matches["ModalitiesInStudy"].values == ("CT", "MR")
    assert "AccessionNumber" not in matches and "StudyDescription" not in matches  # universal matching


def test_fuzzy_applies_to_person_names_only() -> None:
    matches = parse(PatientName=["jo"], AccessionNumber=["A1"], fuzzymatching=["true"]).query.matches
    assert {m.keyword: m.kind for m in matches} == {"PatientName": "fuzzy", "AccessionNumber": "single"}


def test_includefield_repeated_comma_and_all() -> None:
    query = parse(includefield=["00081030,Modality", "InstitutionName"]).query
    assert query.include >= {0x00081030, 0x00080060, 0x00080080} and not query.include_all
    assert parse(includefield=["all"]).query.include_all


def test_limit_defaults_and_is_capped() -> None:
    assert parse().query.limit == 100
    assert parse(limit=["5000"], offset=["3"]).query.limit == 1000
    assert parse(offset=["3"]).query.offset == 3


@pytest.mark.parametrize(("args", "parameter"), [
    ({"limit": ["0"]}, "limit"), ({"PatientAgeX": ["1"]}, "PatientAgeX"), ({"StudyTime": ["25xx-"]}, "StudyTime"),
])
def test_errors_name_the_parameter(args: dict, parameter: str) -> None:
    with pytest.raises(BadRequest) as error:
        parse(**args)
    assert error.value.extra["parameter"] == parameter


@pytest.mark.parametrize(("args", "parameter", "words"), [
    ({"offset": [str(2**63)]}, "offset", "at most"),
    ({"limit": ["²"]}, "limit", "integer"),
    ({"offset": ["\uff11"]}, "offset", "integer"),  # FULLWIDTH DIGIT ONE
    ({"StudyDate": ["20241399"]}, "StudyDate", "not a valid DA"),
    ({"StudyDate": ["20230229-20240101"]}, "StudyDate", "not a valid DA"),
    ({"StudyTime": ["2460"]}, "StudyTime", "not a valid TM"),
    ({"PatientName": ["a*" * 20_000]}, "PatientName", "longer than"),
    ({"PatientName": ["*?" * 40]}, "PatientName", "wildcards"),
    ({"PatientName": [" ".join(["jo"] * 100)], "fuzzymatching": ["true"]}, "PatientName", "tokens"),
    ({"StudyInstanceUID": [",".join(["1.2"] * 5000)]}, "StudyInstanceUID", "values"),
])
def test_hostile_values_are_400_naming_the_parameter(args: dict, parameter: str, words: str) -> None:
    with pytest.raises(BadRequest) as error:
        parse(**args)
    assert error.value.extra["parameter"] == parameter
    assert words in error.value.message and parameter in error.value.message


@pytest.mark.parametrize(("level", "key", "value"), [
    ("instance", "InstanceNumber", str(2**63)), ("instance", "InstanceNumber", "²"),
    ("instance", "InstanceNumber", "-2147483649"), ("series", "SeriesNumber", "99999999999999999999"),
])
def test_numbers_beyond_their_vr_are_400(level: str, key: str, value: str) -> None:
    with pytest.raises(BadRequest) as error:
        parse_search({key: [value]}, level, limits=LIMITS)  # type: ignore[arg-type]
    assert error.value.extra["parameter"] == key


def test_valid_edge_values_still_parse() -> None:
    matches = {m.keyword: m for m in parse(StudyDate=["20240229"], StudyTime=["235960"],
                                           PatientName=["d" + "*" * 5000]).query.matches}
    assert matches["StudyDate"].values == ("20240229",)
    assert matches["PatientName"].values == ("d*",)  # a run of '*' is one '*'
    assert parse(offset=[str(2**31 - 1)]).query.offset == 2**31 - 1
    instance = parse_search({"InstanceNumber": ["-2147483648"]}, "instance", limits=LIMITS).query.matches
    assert instance[0].values == ("-2147483648",)


def test_a_nul_character_is_refused_naming_the_parameter() -> None:
    """Found by the QIDO fuzzer on a PostgreSQL index (text cannot hold NUL): 500 before the check."""
    with pytest.raises(BadRequest) as error:
        parse(PatientName=["Doe\x00*"])
    assert error.value.message == "query parameter 'PatientName': value contains a NUL character"
