"""DELETE /dicom/studies/{study}[/series/{series}[/instances/{instance}]] with real signed tokens:
refused without the dicomweb.delete scope or with the policy flag off (403 JSON, nothing removed),
404 JSON for an unknown UID, 200 JSON with the counts on success, after which QIDO, WADO, the index
and the disk all agree the data is gone; each delete is audited with who and what."""

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
from slicerweb.engine.headless.dicomdb.health import object_files
from tests.dicomweb.conftest import part10
from tests.oidc import RunningIssuer

STUDY = generate_study(7, series_count=2, instances_per_series=2)
STUDY_UID = str(STUDY[0].StudyInstanceUID)
OTHER = generate_study(8, series_count=1, instances_per_series=2)


@pytest.fixture
async def server(make_app: Callable[..., Any], make_policy: Callable[..., Any],
                 issuer: RunningIssuer) -> AsyncIterator[Callable[..., Any]]:
    contexts: list[Any] = []

    async def factory(delete: bool = True) -> tuple[QuartClient, HeadlessEngine]:
        policy = make_policy(auth__mode="jwt", auth__issuer=issuer.url, auth__audience=issuer.audience,
                             features__dicomweb_delete=delete)
        app, engine = make_app(policy)
        context = app.test_app()
        contexts.append(context)
        client = (await context.__aenter__()).test_client()
        report = await engine.dicom.store_instances(
            [StowPart("application/dicom", io.BytesIO(part10(ds))) for ds in [*STUDY, *OTHER]])
        assert not report.failed
        return client, engine

    yield factory
    for context in contexts:
        await context.__aexit__(None, None, None)


def bearer(issuer: RunningIssuer, scope: str, subject: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(scope, subject=subject)}"}


async def study_count(client: QuartClient, issuer: RunningIssuer) -> int:
    response = await client.get("/dicom/studies", headers=bearer(issuer, "dicomweb.read"))
    return len(await response.get_json())


async def test_delete_needs_the_scope_and_the_policy_flag(server: Callable[..., Any], issuer: RunningIssuer) -> None:
    client, engine = await server(delete=True)
    for scope in ("dicomweb.read dicomweb.write", "slicerweb.admin"):
        refused = await client.delete(f"/dicom/studies/{STUDY_UID}", headers=bearer(issuer, scope))
        assert refused.status_code == 403
        assert refused.headers["Content-Type"] == "application/json"
        assert (await refused.get_json())["code"] == "insufficient_scope"
        assert 'scope="dicomweb.delete"' in refused.headers["WWW-Authenticate"]
    assert (await client.delete(f"/dicom/studies/{STUDY_UID}")).status_code == 401
    client_off, engine_off = await server(delete=False)
    refused = await client_off.delete(f"/dicom/studies/{STUDY_UID}", headers=bearer(issuer, "dicomweb.delete"))
    assert refused.status_code == 403
    assert "features.dicomweb_delete" in (await refused.get_json())["message"]
    for live in (engine, engine_off):
        assert len(object_files(live.dicom.storage.objects)) == 6
    assert await study_count(client, issuer) == 2


async def test_delete_a_study_leaves_no_file_and_no_row(server: Callable[..., Any], issuer: RunningIssuer) -> None:
    client, engine = await server()
    size = sum(p.stat().st_size for p in object_files(engine.dicom.storage.objects) if STUDY_UID in str(p))
    # Warm the caches a retrieval fills, so the test also shows they do not outlive the delete.
    first = STUDY[0]
    instance = f"/dicom/studies/{STUDY_UID}/series/{first.SeriesInstanceUID}/instances/{first.SOPInstanceUID}"
    read = bearer(issuer, "dicomweb.read")
    assert (await client.get(f"{instance}/metadata", headers=read)).status_code == 200
    assert (await client.get(f"/dicom/studies/{STUDY_UID}/metadata", headers=read)).status_code == 200

    response = await client.delete(f"/dicom/studies/{STUDY_UID}", headers=bearer(issuer, "dicomweb.delete", "bob"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert await response.get_json() == {
        "success": True, "study": STUDY_UID, "series": None, "instance": None,
        "deleted": {"studies": 1, "series": 2, "instances": 4, "bytes": size}}

    assert not [p for p in object_files(engine.dicom.storage.objects) if STUDY_UID in str(p)]
    with engine.dicom.index.db.read() as conn:
        assert conn.execute("SELECT COUNT(*) FROM study WHERE study_uid = ?", (STUDY_UID,)).fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM instance").fetchone()[0] == 2
        assert conn.execute("SELECT COUNT(*) FROM pending").fetchone()[0] == 0
    for path in (f"/dicom/studies/{STUDY_UID}/metadata", f"{instance}/metadata", instance):
        gone = await client.get(path, headers=read)
        assert gone.status_code == 404, path
    assert await study_count(client, issuer) == 1
    again = await client.delete(f"/dicom/studies/{STUDY_UID}", headers=bearer(issuer, "dicomweb.delete"))
    assert again.status_code == 404
    assert (await again.get_json())["message"] == f"study {STUDY_UID} not found"

    services = services_of(client.app)
    services.audit.flush()
    (entry,) = [e for e in services.audit.read() if e["event"] == "dicom.delete"]
    assert entry["subject"] == "bob" and entry["study"] == STUDY_UID
    assert entry["deleted"] == {"studies": 1, "series": 2, "instances": 4, "bytes": size}


async def test_delete_a_series_then_an_instance(server: Callable[..., Any], issuer: RunningIssuer) -> None:
    client, _engine = await server()
    first, last = STUDY[0], STUDY[-1]
    scope = bearer(issuer, "dicomweb.delete")
    response = await client.delete(f"/dicom/studies/{STUDY_UID}/series/{first.SeriesInstanceUID}", headers=scope)
    assert (await response.get_json())["deleted"]["series"] == 1
    response = await client.delete(f"/dicom/studies/{STUDY_UID}/series/{last.SeriesInstanceUID}/instances/"
                                   f"{last.SOPInstanceUID}", headers=scope)
    body = await response.get_json()
    assert (body["deleted"]["instances"], body["deleted"]["series"], body["deleted"]["studies"]) == (1, 0, 0)
    series = await client.get(f"/dicom/studies/{STUDY_UID}/series", headers=bearer(issuer, "dicomweb.read"))
    (remaining,) = await series.get_json()
    assert remaining["00201209"]["Value"] == [1]  # NumberOfSeriesRelatedInstances
    bad = await client.delete("/dicom/studies/1.2.x", headers=scope)
    assert bad.status_code == 400 and "not a valid UID" in (await bad.get_json())["message"]
