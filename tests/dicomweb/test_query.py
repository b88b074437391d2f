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
