"""One bounded `Warning` header per response (RFC 9110 §5.3 list; PS3.18 §8.3.4 / §10.5 Warning 299).

Many warnings (101 failed STOW parts, 5,000 ignored QIDO keys) used to be one header line each,
which Python's http.client refuses past 100 lines ("got more than 100 headers") and curl past its
header size limit. Here the real clients (http.client, requests, dicomweb-client, curl) read the
responses of a real server, and the folded header stays short while the JSON body keeps the detail.
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from dicomweb_client.api import DICOMwebClient

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.dicomweb.warning_header import MAX_WARNING_BYTES, folded_warning
from tests.dicomweb.conftest import STOW_TYPE, stow_body

POLICY = "[features]\ndicomweb_write = true\n"
IGNORED_KEYS = {f"0009{number:04X}": "x" for number in range(5000)}  # private tags: not matchable, ignored


def test_folded_warning_is_one_bounded_list_that_counts_the_rest() -> None:
    texts = [f"part {n}: not a readable DICOM object" for n in range(5000)]
    value = folded_warning(texts, "slicerweb")
    assert value is not None and len(value.encode()) <= MAX_WARNING_BYTES
    assert value.startswith('299 slicerweb "part 0: not a readable DICOM object", 299 slicerweb "part 1:')
    shown = value.count('299 slicerweb "part ')
    assert value.endswith(f'299 slicerweb "... and {5000 - shown} more warnings"')
    assert folded_warning([], "slicerweb") is None
    assert folded_warning(['say "hi"\r\nX-Injected: 1'], "a") == '299 a "say \'hi\'  X-Injected: 1"'


def test_one_long_warning_is_cut_not_dropped() -> None:
    value = folded_warning(["x" * 10_000, "second"], "slicerweb")
    assert value is not None and len(value.encode()) <= MAX_WARNING_BYTES
    assert value.startswith('299 slicerweb "xxx') and value.endswith('... and 1 more warnings"')


@pytest.fixture
def server(live_server):
    return live_server(policy_toml=POLICY, args=["--demo"])


def test_5000_ignored_qido_keys_work_with_real_clients(server) -> None:
    url = f"{server.url}/dicom/studies?{urlencode(IGNORED_KEYS)}"
    response = requests.get(url, timeout=30)
    assert response.status_code == 200 and len(response.json()) == 2
    assert response.raw.headers.getlist("Warning") == [response.headers["Warning"]]  # one line
    assert len(response.headers["Warning"]) <= MAX_WARNING_BYTES
    assert "00091387 is not supported for matching" not in response.headers["Warning"]
    assert "more warnings" in response.headers["Warning"]

    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", f"/dicom/studies?{urlencode(IGNORED_KEYS)}")
    raw = connection.getresponse()
    assert raw.status == 200 and len(raw.headers.get_all("Warning")) == 1
    raw.read()
    connection.close()

    web = DICOMwebClient(f"{server.url}/dicom")
    web.set_http_retry_params(retry=False)
    assert len(web.search_for_studies(search_filters=IGNORED_KEYS)) == 2

    curl = shutil.which("curl")
    assert curl, "curl is a system dependency (deploy/install-system-deps)"
    done = subprocess.run([curl, "-sS", "-D", "-", "-o", "/dev/null", url], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("HTTP/1.1 200") and done.stdout.lower().count("\nwarning: ") == 1


def test_101_failed_stow_parts_work_with_real_clients(server, tmp_path) -> None:
    body = stow_body([b"not dicom %d" % n for n in range(101)])
    response = requests.post(f"{server.url}/dicom/studies", data=body, headers={"Content-Type": STOW_TYPE},
                             timeout=30)
    assert response.status_code == 409
    assert response.headers["Content-Type"] == "application/dicom+json"
    assert response.raw.headers.getlist("Warning") == [response.headers["Warning"]]
    assert len(response.headers["Warning"]) <= MAX_WARNING_BYTES and "more warnings" in response.headers["Warning"]
    failed = response.json()["00081198"]["Value"]
    assert len(failed) == 101
    # The detail of every part is in the body (ErrorComment), even those the header only counts.
    assert all("not a readable DICOM" in item["00000902"]["Value"][0] for item in failed)
    assert all(item["00081197"]["Value"] == [0xC000] for item in failed)

    parts = urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("POST", "/dicom/studies", body=body, headers={"Content-Type": STOW_TYPE})
    raw = connection.getresponse()
    assert raw.status == 409 and len(raw.headers.get_all("Warning")) == 1
    raw.read()
    connection.close()

    (tmp_path / "body").write_bytes(body)
    done = subprocess.run(["curl", "-sS", "-D", "-", "-o", "/dev/null", "-H", f"Content-Type: {STOW_TYPE}",
                           "--data-binary", f"@{tmp_path / 'body'}", f"{server.url}/dicom/studies"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("HTTP/1.1 409") and done.stdout.lower().count("\nwarning: ") == 1


def test_101_failed_parts_through_dicomweb_client(server) -> None:
    """dicomweb-client sends real datasets; stored under another study's URL, all 101 fail (0xA900)."""
    datasets = generate_study(7, series_count=1, instances_per_series=101, rows=8, columns=8)
    web = DICOMwebClient(f"{server.url}/dicom")
    web.set_http_retry_params(retry=False)
    with pytest.raises(requests.HTTPError) as refused:
        web.store_instances(datasets, study_instance_uid="1.2.826.0.1.3680043.8.498.1")
    response = refused.value.response
    assert response.status_code == 409 and len(response.raw.headers.getlist("Warning")) == 1
    failed = response.json()["00081198"]["Value"]
    assert {item["00081155"]["Value"][0] for item in failed} == {str(ds.SOPInstanceUID) for ds in datasets}
    assert all(item["00000902"]["Value"][0].startswith("StudyInstanceUID ") for item in failed)
    assert all(item["00081197"]["Value"] == [0xA900] for item in failed)
