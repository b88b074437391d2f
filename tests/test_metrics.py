"""/metrics: parses with prometheus_client's own parser, counters move with requests, labels hold
route templates (never a UID from the path), index figures come from the index, and access is local
or by a `metrics` scope token."""

from __future__ import annotations

import io
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from slicerweb.app import services_of
from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.dicom_api import StowPart
from tests.dicomweb.conftest import STOW_TYPE, part10, stow_body
from tests.oidc import RunningIssuer

LOOPBACK = {"client": ("127.0.0.1", 50000)}
REMOTE = {"client": ("10.20.30.40", 50000)}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} from the exposition, parsed by prometheus_client."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(parsed: dict[Any, float], name: str, **labels: str) -> float:
    return parsed.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(client: Any, **kwargs: Any) -> dict[Any, float]:
    response = await client.get("/metrics", scope_base=LOOPBACK, **kwargs)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return samples(await response.get_data(as_text=True))


async def test_request_counters_move_with_route_templates_not_paths(make_app):
    app, _ = make_app()
    async with app.test_app():
        client = app.test_client()
        before = await scrape(client)
        for _ in range(3):
            assert (await client.get("/slicer/system/version", scope_base=LOOPBACK)).status_code == 200
        missing = await client.get("/dicom/studies/1.2.3.999/series/4.5.6.777/metadata", scope_base=LOOPBACK)
        assert missing.status_code == 404
        response = await client.get("/metrics", scope_base=LOOPBACK)
        text = await response.get_data(as_text=True)
    after = samples(text)
    labels = {"family": "slicer", "route": "/slicer/system/version", "method": "GET", "status": "200"}
    assert value(after, "slicerweb_http_requests_total", **labels) - \
        value(before, "slicerweb_http_requests_total", **labels) == 3
    route = "/dicom/studies/<study>/series/<series>/metadata"
    assert value(after, "slicerweb_http_requests_total", family="dicomweb", route=route, method="GET",
                 status="404") == 1
    assert "1.2.3.999" not in text and "4.5.6.777" not in text
    assert value(after, "slicerweb_http_request_duration_seconds_count", family="slicer",
                 route="/slicer/system/version", method="GET") == 3
    assert value(after, "slicerweb_http_response_bytes_total", family="slicer") > 0
    assert value(after, "slicerweb_feature_enabled", feature="exec") == 0
    assert value(after, "slicerweb_feature_enabled", feature="dicomweb") == 1


async def test_unmatched_paths_add_no_label_values(make_app, make_policy):
    app, _ = make_app(make_policy(**{"features.static": False}))
    async with app.test_app():
        client = app.test_client()
        for n in range(5):
            await client.get(f"/no/such/{n}", scope_base=LOOPBACK)
        text = await (await client.get("/metrics", scope_base=LOOPBACK)).get_data(as_text=True)
    parsed = samples(text)
    assert value(parsed, "slicerweb_http_requests_total", family="none", route="unmatched", method="GET",
                 status="404") == 5
    assert "/no/such" not in text


async def test_index_figures_come_from_the_index(make_app):
    app, engine = make_app()
    study = generate_study(0, series_count=2, instances_per_series=3)
    blobs = [part10(ds) for ds in study]
    async with app.test_app():
        client = app.test_client()
        empty = await scrape(client)
        report = await engine.dicom.store_instances([StowPart("application/dicom", io.BytesIO(b)) for b in blobs])
        assert not report.failed
        engine_metrics = services_of(app).metrics
        engine_metrics._statistics = None  # the few-second cache, expired as time would
        full = await scrape(client)
    assert value(empty, "slicerweb_dicom_index_objects", level="instances") == 0
    assert value(full, "slicerweb_dicom_index_objects", level="studies") == 1
    assert value(full, "slicerweb_dicom_index_objects", level="series") == 2
    assert value(full, "slicerweb_dicom_index_objects", level="instances") == 6
    stored = sum(p.stat().st_size for p in (engine.dicom.storage.objects).rglob("*.dcm"))
    assert value(full, "slicerweb_dicom_stored_bytes") == stored > 0


async def test_remote_callers_need_the_metrics_scope(make_app, make_policy, issuer: RunningIssuer):
    policy = make_policy(**{"auth.mode": "jwt", "auth.issuer": issuer.url, "auth.audience": issuer.audience,
                            "server.host": "0.0.0.0"})
    app, _ = make_app(policy)
    async with app.test_app():
        client = app.test_client()
        anonymous = await client.get("/metrics", scope_base=REMOTE)
        wrong = await client.get("/metrics", scope_base=REMOTE,
                                 headers={"Authorization": f"Bearer {issuer.mint('dicomweb.read')}"})
        right = await client.get("/metrics", scope_base=REMOTE,
                                 headers={"Authorization": f"Bearer {issuer.mint('slicerweb.metrics')}"})
        forged = await client.get("/slicer/system/version", scope_base=REMOTE,
                                  headers={"Authorization": "Bearer forged"})
        assert forged.status_code == 401
        local = await scrape(client)
    assert anonymous.status_code == 401 and "Bearer" in anonymous.headers["WWW-Authenticate"]
    assert wrong.status_code == 403
    assert (await wrong.get_json())["message"] == "insufficient scope: needs one of the scopes: slicerweb.metrics"
    assert right.status_code == 200
    assert "slicerweb_http_requests_total" in await right.get_data(as_text=True)
    assert value(local, "slicerweb_auth_failures_total", reason="unauthenticated") == 2
    assert value(local, "slicerweb_auth_failures_total", reason="insufficient_scope") == 1


async def test_policy_can_require_a_token_even_on_loopback(make_app, make_policy, issuer: RunningIssuer):
    policy = make_policy(**{"auth.mode": "jwt", "auth.issuer": issuer.url, "auth.audience": issuer.audience,
                            "auth.metrics_local_without_token": False})
    app, _ = make_app(policy)
    async with app.test_app():
        response = await app.test_client().get("/metrics", scope_base=LOOPBACK)
    assert response.status_code == 401


async def test_exec_toggles_are_counted(make_app):
    app, _ = make_app()
    async with app.test_app():
        client = app.test_client()
        put = await client.put("/admin/features/exec", json={"enabled": True, "minutes": 5}, scope_base=LOOPBACK)
        assert put.status_code == 200
        parsed = await scrape(client)
    assert value(parsed, "slicerweb_feature_toggles_total", feature="exec", enabled="true") == 1
    assert value(parsed, "slicerweb_feature_enabled", feature="exec") == 1


def test_multiprocess_mode_merges_the_workers_files(tmp_path, live_server):
    """With PROMETHEUS_MULTIPROC_DIR (several workers), values live in files there and are merged."""
    shared = tmp_path / "prometheus"
    shared.mkdir()
    server = live_server(env={"PROMETHEUS_MULTIPROC_DIR": str(shared)})
    with server.client() as http:
        for _ in range(2):
            assert http.get("/slicer/system/version").status_code == 200
        parsed = samples(http.get("/metrics").text)
    assert list(shared.glob("counter_*.db")), "no per-process value files were written"
    assert value(parsed, "slicerweb_http_requests_total", family="slicer", route="/slicer/system/version",
                 method="GET", status="200") == 2
    assert value(parsed, "slicerweb_dicom_index_objects", level="studies") == 0


async def test_stow_outcomes_are_counted_per_instance(make_app, make_policy):
    """Stored, already stored and failed parts (with their PS3.18 reason) of STOW-RS requests."""
    app, _ = make_app(make_policy(features__dicomweb_write=True))
    blobs = [part10(ds) for ds in generate_study(5, series_count=1, instances_per_series=2)]
    headers = {"Content-Type": STOW_TYPE}
    async with app.test_app():
        client = app.test_client()
        first = await client.post("/dicom/studies", data=stow_body(blobs), headers=headers, scope_base=LOOPBACK)
        assert first.status_code == 200
        again = await client.post("/dicom/studies", data=stow_body([blobs[0], b"not dicom" * 40]), headers=headers,
                                  scope_base=LOOPBACK)
        assert again.status_code == 202
        parsed = await scrape(client)
    total = "slicerweb_dicomweb_stow_instances_total"
    assert value(parsed, total, outcome="stored", reason="") == 2
    assert value(parsed, total, outcome="already_stored", reason="") == 1
    assert value(parsed, total, outcome="failed", reason="0xC000") == 1


async def test_the_headless_engine_exports_no_queue_depth(make_app):
    """It has no main thread to wait for; a Slicer engine's gauge is tested with its dispatcher."""
    app, _ = make_app()
    async with app.test_app():
        parsed = await scrape(app.test_client())
    assert not [name for name, _labels in parsed if name.startswith("slicerweb_engine_queue_depth")]
    assert any(name == "slicerweb_dicom_stored_bytes" for name, _labels in parsed)
