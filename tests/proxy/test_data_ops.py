"""Deleting and checking DICOM data through the bundled proxies: the edge's verifier passes DELETE
only with the dicomweb.delete scope and the integrity check only with the admin scope, and the
answers (JSON bodies) come back through nginx and Caddy unchanged."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.devstack.stack import Stack, start_stack
from tests.dicomweb.conftest import STOW_TYPE, part10, stow_body
from tests.oidc import RunningIssuer, auth_policy
from tests.proxy.fronts import PROXIES, stack_client
from tests.proxy.test_edge import bearer

pytestmark = pytest.mark.proxy
STUDY = generate_study(9, series_count=1, instances_per_series=2)
STUDY_UID = str(STUDY[0].StudyInstanceUID)


@pytest.fixture(scope="module", params=PROXIES)
def stack(request: pytest.FixtureRequest, issuer: RunningIssuer,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    policy = auth_policy(issuer, extra='trusted_proxies = ["127.0.0.1"]', allowed_hosts='["localhost"]',
                         features="dicomweb_delete = true")
    running = start_stack(request.param, tmp_path_factory.mktemp(request.param), policy)
    yield running
    running.stop()


@pytest.fixture
def http(stack: Stack) -> Iterator[httpx.Client]:
    with stack_client(stack) as client:
        yield client


def test_delete_and_check_through_the_proxy(http: httpx.Client, issuer: RunningIssuer) -> None:
    stored = http.post("/dicom/studies", content=stow_body([part10(ds) for ds in STUDY]),
                       headers={"Content-Type": STOW_TYPE, **bearer(issuer, "dicomweb.write")})
    assert stored.status_code == 200, stored.text
    refused = http.delete(f"/dicom/studies/{STUDY_UID}", headers=bearer(issuer, "dicomweb.write dicomweb.read"))
    assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope"
    assert http.post("/admin/api/dicom/check", headers=bearer(issuer, "dicomweb.delete")).status_code == 403
    check = http.post("/admin/api/dicom/check", headers=bearer(issuer, "slicerweb.admin"))
    assert check.status_code == 200 and check.json()["instances"] == 2 and not check.json()["damaged"]

    deleted = http.delete(f"/dicom/studies/{STUDY_UID}", headers=bearer(issuer, "dicomweb.delete"))
    assert deleted.status_code == 200 and deleted.headers["content-type"] == "application/json"
    assert deleted.json()["deleted"]["instances"] == 2 and deleted.json()["study"] == STUDY_UID
    gone = http.get(f"/dicom/studies/{STUDY_UID}/metadata", headers=bearer(issuer, "dicomweb.read"))
    assert gone.status_code == 404
    check = http.post("/admin/api/dicom/check", headers=bearer(issuer, "slicerweb.admin"), json={"examples": 0})
    assert (check.json()["instances"], check.json()["files"], check.json()["damaged"]) == (0, 0, False)
