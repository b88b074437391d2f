"""POST /admin/api/dicom/check with real signed tokens: only the admin scope may call it; it reports
damage made on purpose without touching it, repairs (audited) when asked, and refuses a bad body
with a 400 JSON naming the problem."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from quart.testing import QuartClient

from slicerweb.app import services_of
from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.dicom_api import StowPart
from slicerweb.engine.headless import HeadlessEngine
from tests.dicomweb.conftest import part10
from tests.oidc import RunningIssuer

CHECK = "/admin/api/dicom/check"


@pytest.fixture
async def app(make_app: Callable[..., Any], make_policy: Callable[..., Any],
              issuer: RunningIssuer) -> AsyncIterator[tuple[QuartClient, HeadlessEngine]]:
    policy = make_policy(auth__mode="jwt", auth__issuer=issuer.url, auth__audience=issuer.audience)
    quart_app, engine = make_app(policy)
    async with quart_app.test_app() as test_app:
        report = await engine.dicom.store_instances([StowPart("application/dicom", io.BytesIO(part10(ds)))
                                                     for ds in generate_study(5, instances_per_series=2)])
        assert not report.failed
        yield test_app.test_client(), engine


def admin(issuer: RunningIssuer, scope: str = "slicerweb.admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(scope, subject='carol')}"}


async def test_only_the_admin_scope_may_check(app: tuple[QuartClient, HeadlessEngine], issuer: RunningIssuer) -> None:
    client, _ = app
    assert (await client.post(CHECK)).status_code == 401
    refused = await client.post(CHECK, headers=admin(issuer, "dicomweb.read dicomweb.write dicomweb.delete"))
    assert refused.status_code == 403 and (await refused.get_json())["code"] == "insufficient_scope"
    clean = await client.post(CHECK, headers=admin(issuer))
    assert clean.status_code == 200 and clean.headers["Content-Type"] == "application/json"
    body = await clean.get_json()
    assert (body["instances"], body["files"], body["damaged"], body["examples"]) == (4, 4, False, [])


async def test_check_reports_then_repairs_a_missing_file(app: tuple[QuartClient, HeadlessEngine],
                                                         issuer: RunningIssuer) -> None:
    client, engine = app
    row = engine.dicom.index.instances(str(generate_study(5)[0].StudyInstanceUID))[0]
    engine.dicom.storage.absolute(row.path).unlink()
    body = await (await client.post(CHECK, headers=admin(issuer), json={"examples": 1})).get_json()
    assert body["damaged"] and body["counts"]["missing_file"] == 1
    assert body["examples"] == [{"kind": "missing_file", "path": row.path, "sop_uid": row.sop_uid,
                                 "detail": "indexed, but the file is gone", "repaired": False}]
    assert engine.dicom.index.locate(row.sop_uid) is not None  # read-only
    body = await (await client.post(CHECK, headers=admin(issuer), json={"repair": True})).get_json()
    assert body["repaired"] == 1 and not body["damaged"]
    assert engine.dicom.index.locate(row.sop_uid) is None
    assert not (await (await client.post(CHECK, headers=admin(issuer))).get_json())["damaged"]
    audit = services_of(client.app)
    audit.audit.flush()
    (entry,) = [e for e in audit.audit.read() if e["event"] == "dicom.check"]
    assert (entry["subject"], entry["repaired"], entry["counts"]["missing_file"]) == ("carol", 1, 1)


@pytest.mark.parametrize(("body", "problem"), [
    (b"[1]", "body must be empty or JSON"), (b'{"repair": "yes"}', "repair must be true or false"),
    (b'{"examples": -1}', "examples must be an integer"), (b'{"fix": true}', "body must be empty or JSON"),
    (b"\xff\xfe", "body must be empty or JSON")])
async def test_a_bad_body_is_a_400_naming_the_problem(app: tuple[QuartClient, HeadlessEngine], issuer: RunningIssuer,
                                                     body: bytes, problem: str) -> None:
    client, _ = app
    response = await client.post(CHECK, headers={**admin(issuer), "Content-Type": "application/json"}, data=body)
    assert response.status_code == 400
    assert problem in (await response.get_json())["message"]
