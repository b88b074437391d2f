"""QIDO-RS conformance (PS3.18 §8.3.4 query parameters, §10.6 search transactions).

Keyed to the standard: §8.3.4.1 matching (single, wildcard, range, UID list, PN case), §8.3.4.2
fuzzy matching, §8.3.4.3 includefield, §8.3.4.4 paging (limit/offset, 204, Warning 299),
§10.6.3.3 default return attributes (Tables 10.6.3-3/4/5), §8.7 media types (406 / XML).
"""

from __future__ import annotations

import shutil

import pytest

JSON = {"Accept": "application/dicom+json"}


def values(records: list[dict], tag: str) -> list:
    return [r[tag]["Value"][0] for r in records if "Value" in r.get(tag, {})]


async def search(app, path: str = "/dicom/studies", **params) -> list[dict]:
    response = await app.client.get(path, query_string=params, headers=JSON)
    assert response.status_code in (200, 204), await response.get_data(as_text=True)
    return [] if response.status_code == 204 else await response.get_json()


async def test_study_defaults_table_10_6_3_3(dicom_app) -> None:
    app = await dicom_app()
    response = await app.client.get("/dicom/studies", query_string={"StudyInstanceUID": app.study_uid(2)})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/dicom+json"
    (study,) = await response.get_json()
    for tag in ("00080020", "00080030", "00080050", "00080056", "00080061", "00080090", "00081190", "00100010",
                "00100020", "00100030", "00100040", "0020000D", "00200010", "00201206", "00201208"):
        assert tag in study, tag
    first = app.first(2)
    assert study["00100010"]["Value"] == [{"Alphabetic": str(first.PatientName)}]
    assert study["00080061"]["Value"] == ["CT"]
    assert study["00201206"]["Value"] == [3] and study["00201208"]["Value"] == [12]
    assert study["00081190"]["Value"] == [f"http://localhost/dicom/studies/{app.study_uid(2)}"]


async def test_series_and_instance_defaults_tables_10_6_3_4_and_5(dicom_app) -> None:
    app = await dicom_app()
    series = await search(app, f"/dicom/studies/{app.study_uid(2)}/series")
    assert values(series, "00200011") == [1, 2, 3]
    assert values(series, "00201209") == [4, 4, 4]
    for tag in ("00080060", "0008103E", "0020000E", "00081190"):
        assert all(tag in s for s in series), tag
    all_series = await search(app, "/dicom/series", Modality="MR")
    assert {s["0020000D"]["Value"][0] for s in all_series} == {app.study_uid(1), app.study_uid(3)}
    assert all("00100010" in s for s in all_series)  # /series repeats the study attributes
    se = series[1]["0020000E"]["Value"][0]
    instances = await search(app, f"/dicom/studies/{app.study_uid(2)}/series/{se}/instances")
    assert values(instances, "00200013") == [1, 2, 3, 4]
    for tag in ("00080016", "00080018", "00280010", "00280011", "00280100", "00081190"):
        assert all(tag in i for i in instances), tag
    assert instances[0]["00081190"]["Value"][0].endswith(
        f"/studies/{app.study_uid(2)}/series/{se}/instances/{instances[0]['00080018']['Value'][0]}")


async def test_no_match_is_204_no_content(dicom_app) -> None:
    app = await dicom_app()
    response = await app.client.get("/dicom/studies", query_string={"PatientID": "nobody"})
    assert response.status_code == 204
    assert await response.get_data() == b""


async def test_uid_lists_with_commas_and_backslashes(dicom_app) -> None:
    app = await dicom_app()
    both = {app.study_uid(1), app.study_uid(3)}
    for separator in (",", "\\"):
        found = await search(app, StudyInstanceUID=separator.join(sorted(both)))
        assert set(values(found, "0020000D")) == both


async def test_date_ranges(dicom_app) -> None:
    app = await dicom_app()
    dates = sorted(str(app.first(i).StudyDate) for i in range(4))
    assert len(await search(app, StudyDate=f"{dates[1]}-{dates[2]}")) == 2
    assert len(await search(app, StudyDate=f"-{dates[0]}")) == 1
    assert len(await search(app, StudyDate=f"{dates[3]}-")) == 1
    assert len(await search(app, StudyDate=dates[2])) == 1


async def test_wildcards_case_sensitivity_and_person_names(dicom_app) -> None:
    app = await dicom_app()
    family = str(app.first(2).PatientName).split("^")[0]
    assert len(await search(app, PatientName=f"{family.lower()}*")) == 2      # PN: case-insensitive
    assert len(await search(app, PatientName=f"{family.upper()}^JANE")) == 2  # trailing ^^^ ignored
    assert len(await search(app, PatientName=f"{family[:-1]}?^*")) == 2
    description = str(app.first(0).StudyDescription)
    assert await search(app, StudyDescription=description[:3].lower() + "*") == []  # LO: case-sensitive
    assert len(await search(app, StudyDescription=description[:3] + "*")) >= 1
    assert len(await search(app, AccessionNumber="*")) == 4  # '*' alone is universal matching


async def test_fuzzy_matching_is_token_prefix(dicom_app) -> None:
    app = await dicom_app()
    family = str(app.first(2).PatientName).split("^")[0]
    found = await search(app, PatientName=family[:3].lower(), fuzzymatching="true")
    assert set(values(found, "0020000D")) == {app.study_uid(2), app.study_uid(3)}
    assert await search(app, PatientName=family[1:4], fuzzymatching="true") == []  # not a prefix


async def test_modalities_in_study_as_ohif_sends_it(dicom_app) -> None:
    app = await dicom_app()
    assert len(await search(app, ModalitiesInStudy="CT,MR")) == 4
    found = await search(app, ModalitiesInStudy="MR")
    assert set(values(found, "0020000D")) == {app.study_uid(1), app.study_uid(3)}


async def test_includefield_comma_repeated_all_and_lower_level_excluded(dicom_app) -> None:
    app = await dicom_app()
    response = await app.client.get(
        "/dicom/studies?includefield=00081030,00080060&includefield=InstitutionName&includefield=SOPInstanceUID",
        headers=JSON)
    studies = await response.get_json()
    assert all("00081030" in s and "00080080" in s for s in studies)
    assert not any("00080018" in s for s in studies)  # a lower level's attribute is not returned
    se = app.studies[2][0].SeriesInstanceUID
    (instance,) = await search(app, f"/dicom/studies/{app.study_uid(2)}/series/{se}/instances",
                               InstanceNumber="2", includefield="all")
    assert instance["00200032"]["vr"] == "DS"  # ImagePositionPatient, from the stored JSON


async def test_queries_never_open_files(dicom_app) -> None:
    app = await dicom_app()
    shutil.rmtree(app.engine.dicom.storage.objects)
    assert len(await search(app, includefield="all")) == 4
    se = app.studies[2][0].SeriesInstanceUID
    assert len(await search(app, f"/dicom/studies/{app.study_uid(2)}/series/{se}/instances",
                            includefield="all")) == 4
    response = await app.client.get(f"/dicom/studies/{app.study_uid(2)}/series/{se}/metadata")
    assert response.status_code == 200 and len(await response.get_json()) == 4


async def test_paging_is_stable_and_warns_about_remaining_results(dicom_app) -> None:
    app = await dicom_app()
    everything = values(await search(app), "0020000D")
    pages = []
    for offset in range(4):
        response = await app.client.get("/dicom/studies", query_string={"limit": 1, "offset": offset})
        pages += values(await response.get_json(), "0020000D")
        remaining = 3 - offset
        warning = response.headers.get("Warning", "")
        assert (f"There are {remaining} additional results" in warning) == (remaining > 0)
        assert warning == "" or warning.startswith("299 ")
    assert pages == everything
    response = await app.client.get("/dicom/studies", query_string={"limit": 1, "offset": 4})
    assert response.status_code == 204


async def test_policy_caps_the_limit(dicom_app) -> None:
    app = await dicom_app(limits__qido_default_limit=2, limits__qido_max_limit=3)
    response = await app.client.get("/dicom/studies")
    assert len(await response.get_json()) == 2
    assert "There are 2 additional results" in response.headers["Warning"]
    response = await app.client.get("/dicom/studies", query_string={"limit": 50})
    assert len(await response.get_json()) == 3


async def test_query_values_are_percent_decoded(dicom_app) -> None:
    app = await dicom_app()
    name = str(app.first(2).PatientName).split("^")
    response = await app.client.get(f"/dicom/studies?PatientName={name[0]}%5E{name[1]}%2A&00100020=%2A")
    assert len(await response.get_json()) == 2


@pytest.mark.parametrize(("query", "parameter"), [
    ("limit=abc", "limit"), ("offset=-1", "offset"), ("Foo=bar", "Foo"), ("StudyDate=2019-xx", "StudyDate"),
    ("includefield=Nope", "includefield"), ("fuzzymatching=maybe", "fuzzymatching"), ("SeriesNumber=x", "SeriesNumber"),
])
async def test_bad_parameters_answer_400_naming_them(dicom_app, query: str, parameter: str) -> None:
    app = await dicom_app()
    path = "/dicom/series" if parameter == "SeriesNumber" else "/dicom/studies"
    response = await app.client.get(f"{path}?{query}")
    assert response.status_code == 400
    body = await response.get_json()
    assert body["parameter"] == parameter and parameter in body["message"]


async def test_unsupported_matching_key_is_ignored_with_a_warning(dicom_app) -> None:
    app = await dicom_app()
    response = await app.client.get("/dicom/studies", query_string={"00091010": "70"})  # private: not matchable
    assert response.status_code == 200 and len(await response.get_json()) == 4
    assert "00091010 is not supported" in response.headers["Warning"]
    response = await app.client.get("/dicom/studies", query_string={"PatientWeight": "70"})  # stored JSON: matched
    assert response.status_code == 204 and "Warning" not in response.headers


async def test_accept_xml_and_406(dicom_app) -> None:
    app = await dicom_app()
    response = await app.client.get("/dicom/studies", headers={
        "Accept": 'multipart/related; type="application/dicom+xml"'})
    body = await response.get_data()
    assert response.headers["Content-Type"].startswith('multipart/related; type="application/dicom+xml"')
    assert body.count(b"<NativeDicomModel") == 4 and b'tag="0020000D"' in body
    response = await app.client.get("/dicom/studies", headers={"Accept": "image/png"})
    assert response.status_code == 406


@pytest.mark.parametrize(("path", "query", "parameter"), [
    ("/dicom/studies", f"offset={2**63}", "offset"),
    ("/dicom/instances", f"InstanceNumber={2**63}", "InstanceNumber"),
    ("/dicom/studies", "limit=%C2%B2", "limit"),
    ("/dicom/studies", "fuzzymatching=true&PatientName=" + "+".join(["jo"] * 3000), "PatientName"),
    ("/dicom/studies", "PatientName=a" + "*a" * 20_000, "PatientName"),
    ("/dicom/studies", "StudyDate=20241399", "StudyDate"),
])
async def test_hostile_queries_are_400_json_and_the_server_keeps_serving(dicom_app, path: str, query: str,
                                                                       parameter: str) -> None:
    """Each of these was a 500 (or an unbounded LIKE scan) before: now a 400 naming the parameter."""
    app = await dicom_app()
    response = await app.client.get(f"{path}?{query}", headers=JSON)
    assert response.status_code == 400, await response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"
    body = await response.get_json()
    assert body["parameter"] == parameter and parameter in body["message"]
    assert len(await search(app)) == 4
