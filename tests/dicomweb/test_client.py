"""The unmodified Python `dicomweb-client` against a real `slicerweb serve` (PS3.18 as clients use it).

It sends `Host` without the port, `%5E` for `^`, repeated `includefield` keys, `type="*/*"` for
frames, pages with `get_remaining=True` until an empty page, and parses a STOW reply only when the
Content-Type is exactly application/dicom+json: each of these is exercised here.
"""

from __future__ import annotations

import numpy as np
import pytest
from dicomweb_client.api import DICOMwebClient

from slicerweb.demo.dicom_studies import generate_study

POLICY = "[features]\ndicomweb_write = true\n"


@pytest.fixture
def client(live_server) -> DICOMwebClient:
    server = live_server(policy_toml=POLICY, args=["--demo"])
    web = DICOMwebClient(f"{server.url}/dicom")
    web.set_http_retry_params(retry=False)
    return web


def uid(record: dict, tag: str) -> str:
    return str(record[tag]["Value"][0])


def test_search_retrieve_metadata_frames_rendered_store(client: DICOMwebClient) -> None:
    ct = generate_study(0, modality="CT")
    name = str(ct[0].PatientName)
    assert "^" in name
    studies = client.search_for_studies(search_filters={"PatientName": name.split("^")[0] + "^*"},
                                        fields=["StudyDescription", "00080061"])
    assert [uid(s, "0020000D") for s in studies] == [ct[0].StudyInstanceUID] * 2 or \
        ct[0].StudyInstanceUID in [uid(s, "0020000D") for s in studies]
    assert all("00081030" in s for s in studies)

    study = ct[0].StudyInstanceUID
    series = client.search_for_series(study)
    series_uid = uid(series[0], "0020000E")
    instances = client.search_for_instances(study, series_uid)
    assert len(instances) == 10
    sop = uid(instances[0], "00080018")

    instance = client.retrieve_instance(study, series_uid, sop)
    assert instance.SOPInstanceUID == sop
    expected = next(ds for ds in ct if ds.SOPInstanceUID == sop)
    assert np.array_equal(instance.pixel_array, expected.pixel_array)
    assert len(client.retrieve_series(study, series_uid)) == 10
    assert len(client.retrieve_study(study)) == 20

    metadata = client.retrieve_series_metadata(study, series_uid)
    assert len(metadata) == 10 and "BulkDataURI" in metadata[0]["7FE00010"]
    assert client.retrieve_instance_metadata(study, series_uid, sop)["00080018"]["Value"] == [sop]

    (frame,) = client.retrieve_instance_frames(study, series_uid, sop, [1])
    assert frame == expected.PixelData
    assert client.retrieve_instance_rendered(study, series_uid, sop)[:2] == b"\xff\xd8"
    png = client.retrieve_instance_rendered(study, series_uid, sop, media_types=("image/png",),
                                            params={"window": "40,400,linear"})
    assert png[:4] == b"\x89PNG"
    bulk = client.retrieve_bulkdata(metadata[0]["7FE00010"]["BulkDataURI"])
    assert len(bulk[0]) == len(expected.PixelData)

    new = generate_study(7, instances_per_series=2)
    reply = client.store_instances(new)
    assert [item.ReferencedSOPInstanceUID for item in reply.ReferencedSOPSequence] == [ds.SOPInstanceUID
                                                                                       for ds in new]
    again = client.store_instances(new, study_instance_uid=new[0].StudyInstanceUID)  # identical: success
    assert len(again.ReferencedSOPSequence) == 4
    assert len(client.search_for_instances(new[0].StudyInstanceUID)) == 4


def test_get_remaining_pages_until_an_empty_page(client: DICOMwebClient) -> None:
    client.store_instances([ds for i in range(3, 7) for ds in generate_study(i, instances_per_series=1)])
    everything = client.search_for_studies()
    paged = client.search_for_studies(limit=2, get_remaining=True)
    assert len(everything) == 6
    assert [uid(s, "0020000D") for s in paged] == [uid(s, "0020000D") for s in everything]
