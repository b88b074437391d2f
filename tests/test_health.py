"""/livez and /readyz: local callers only, 503 JSON naming what is not ready, back to 200 after."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import start_server

PUBLIC = {"client": ("10.20.30.40", 50000)}
LOOPBACK = {"client": ("127.0.0.1", 50000)}


async def test_livez_and_readyz_answer_a_loopback_caller(make_app):
    app, _ = make_app()
    async with app.test_app():
        client = app.test_client()
        live = await client.get("/livez", scope_base=LOOPBACK)
        ready = await client.get("/readyz", scope_base=LOOPBACK)
    assert live.status_code == 200 and await live.get_json() == {"status": "alive"}
    assert ready.status_code == 200
    assert await ready.get_json() == {"status": "ready", "checks": {"engine": "ok", "index": "ok", "storage": "ok"}}
    assert ready.headers["Cache-Control"] == "no-store"
    assert ready.headers["Content-Type"] == "application/json"


async def test_readyz_is_503_before_the_engine_started(make_app):
    app, _ = make_app()
    response = await app.test_client().get("/readyz", scope_base=LOOPBACK)
    assert response.status_code == 503
    body = await response.get_json()
    assert body["code"] == "not_ready" and body["success"] is False
    assert body["message"] == "not ready: engine: engine not started"


async def test_readyz_names_an_unreachable_index_and_recovers(make_app):
    app, engine = make_app()
    index = engine.dicom.index.path
    async with app.test_app():
        client = app.test_client()
        index.rename(index.with_suffix(".moved"))
        down = await client.get("/readyz", scope_base=LOOPBACK)
        index.with_suffix(".moved").rename(index)
        up = await client.get("/readyz", scope_base=LOOPBACK)
    assert down.status_code == 503
    body = await down.get_json()
    assert body["checks"]["index"] == "index file index.sqlite is missing"
    assert body["checks"]["storage"] == "ok"
    assert "index" in body["message"]
    assert up.status_code == 200


@pytest.mark.parametrize("path", ["/livez", "/readyz"])
async def test_health_is_404_to_remote_and_forwarded_callers(make_app, make_policy, path):
    app, _ = make_app(make_policy(**{"server.trusted_proxies": ["127.0.0.1"]}))
    async with app.test_app():
        client = app.test_client()
        remote = await client.get(path, scope_base=PUBLIC)
        forwarded = await client.get(path, scope_base=LOOPBACK, headers={"X-Forwarded-For": "10.20.30.40"})
        proxy_own = await client.get(path, scope_base=LOOPBACK, headers={"X-Forwarded-For": "127.0.0.1"})
    for refused in (remote, forwarded):
        assert refused.status_code == 404
        assert (await refused.get_json())["code"] == "not_found"
    assert proxy_own.status_code == 200


async def test_forwarded_by_an_untrusted_proxy_is_not_local(make_app):
    app, _ = make_app()  # no trusted proxies: a forwarded claim cannot be believed either way
    async with app.test_app():
        response = await app.test_client().get("/livez", scope_base=LOOPBACK,
                                               headers={"X-Forwarded-For": "127.0.0.1"})
    assert response.status_code == 404


async def test_health_can_be_switched_off_by_policy(make_app, make_policy):
    app, _ = make_app(make_policy(**{"features.health": False}))
    async with app.test_app():
        response = await app.test_client().get("/livez", scope_base=LOOPBACK)
    assert response.status_code == 404


@pytest.mark.skipif(shutil.which("unshare") is None or shutil.which("nsenter") is None, reason="util-linux")
def test_readyz_goes_503_on_a_read_only_data_dir_and_back(tmp_path: Path) -> None:
    """A real read-only remount (as `errors=remount-ro` does) of the object store, in a private mount
    namespace (the object store has no file open for writing while idle, so it can be remounted)."""
    data_dir = tmp_path / "data"
    objects = data_dir / "dicom" / "objects"
    prefix = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
              'mkdir -p "$0" && mount -t tmpfs -o size=64m tmpfs "$0" && exec "$@"', str(objects)]
    try:
        server = start_server(tmp_path, data_dir=data_dir, prefix=prefix)
    except RuntimeError as exc:
        pytest.skip(f"cannot make a mount namespace here: {exc}")

    def remount(mode: str) -> None:
        subprocess.run(["nsenter", "--target", str(server.process.pid), "--mount", "mount", "-o",
                        f"remount,{mode}", str(objects)], check=True)

    try:
        with server.client() as http:
            assert http.get("/readyz").status_code == 200
            remount("ro")
            down = http.get("/readyz")
            remount("rw")
            up = http.get("/readyz")
            alive = http.get("/livez")
    finally:
        server.stop()
    assert down.status_code == 503
    body = down.json()
    assert body["checks"]["storage"] == "storage not writable: Read-only file system (objects/)"
    assert "storage: storage not writable" in body["message"]
    assert up.status_code == 200 and up.json()["checks"]["storage"] == "ok"
    assert alive.status_code == 200


async def test_a_relative_data_dir_works(make_app, make_policy, tmp_path, monkeypatch):
    """The default data_dir is ./data: the probes must not need an absolute path."""
    monkeypatch.chdir(tmp_path)
    app, _ = make_app(make_policy(**{"server.data_dir": "relative-data"}))
    async with app.test_app():
        client = app.test_client()
        ready = await client.get("/readyz", scope_base=LOOPBACK)
        metrics = await client.get("/metrics", scope_base=LOOPBACK)
    assert ready.status_code == 200, await ready.get_data(as_text=True)
    assert metrics.status_code == 200
    assert 'slicerweb_dicom_index_objects{level="studies"} 0.0' in await metrics.get_data(as_text=True)
