"""Runtime feature toggles: the policy is the ceiling, exec expires by itself, every toggle is audited."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest

from slicerweb.app import services_of
from tests.conftest import subprocess_env


async def toggle(client, name, **body):
    response = await client.put(f"/admin/features/{name}", json=body)
    return response.status_code, await response.get_json()


async def test_exec_is_off_by_default_and_refusal_is_audited(make_app):
    app, _ = make_app()
    client = app.test_client()
    response = await client.post("/slicer/exec", data="__execResult = {'x': 1}")
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    audit = services_of(app).audit.read()
    assert audit[-1]["event"] == "exec.denied" and audit[-1]["subject"] == "local"


async def test_exec_toggle_is_audited_and_expires(make_app):
    app, _ = make_app()
    client = app.test_client()
    status, state = await toggle(client, "exec", enabled=True, minutes=0.01)  # 0.6 s
    assert status == 200 and state["enabled"] is True and state["policy"] is False
    response = await client.post("/slicer/exec", data="__execResult = {'answer': 6 * 7}")
    assert response.status_code == 200
    assert await response.get_json() == {"answer": 42}
    audit = services_of(app).audit.read()
    toggle_line = next(line for line in audit if line["event"] == "feature.toggle")
    assert toggle_line["feature"] == "exec" and toggle_line["old"] is False and toggle_line["new"] is True
    assert toggle_line["subject"] == "local" and toggle_line["expires_at"] and toggle_line["time"]
    run = next(line for line in audit if line["event"] == "exec.run")
    assert run["outcome"] == "ok" and len(run["sha256"]) == 64
    assert run["size"] == len("__execResult = {'answer': 6 * 7}")
    await asyncio.sleep(1.7)  # past the expiry and the 1 s cache
    assert (await client.post("/slicer/exec", data="__execResult = {}")).status_code == 403


async def test_exec_toggle_bounded_by_policy(make_app, make_policy):
    app, _ = make_app(make_policy(features__exec_toggle_max_minutes=5))
    status, body = await toggle(app.test_client(), "exec", enabled=True, minutes=30)
    assert status == 409 and "between 0 and 5" in body["message"]


async def test_exec_toggle_can_be_forbidden_by_policy(make_app, make_policy):
    app, _ = make_app(make_policy(features__exec_toggle=False))
    status, body = await toggle(app.test_client(), "exec", enabled=True)
    assert status == 409 and "exec_toggle" in body["message"]


async def test_family_switched_off_at_runtime_answers_404_then_back(make_app):
    app, _ = make_app()
    client = app.test_client()
    assert (await toggle(client, "slicer", enabled=False))[0] == 200
    await asyncio.sleep(0)  # the toggle invalidated this process's cache
    response = await client.get("/slicer/system/version")
    assert response.status_code == 404 and (await response.get_json())["code"] == "not_found"
    assert (await client.delete("/admin/features/slicer")).status_code == 200
    assert (await client.get("/slicer/system/version")).status_code == 200


async def test_family_off_in_policy_cannot_be_switched_on(make_app, make_policy):
    app, _ = make_app(make_policy(features__dicomweb=False))
    client = app.test_client()
    status, body = await toggle(client, "dicomweb", enabled=True)
    assert status == 409 and "disabled by the policy" in body["message"]
    assert (await client.get("/dicom/studies")).status_code == 404


@pytest.mark.parametrize(("flag", "path"), [("static", "/"), ("dicomweb", "/dicom/studies"),
                                            ("slicer", "/slicer/system/version")])
async def test_each_family_flag(make_app, make_policy, flag, path):
    on = (await make_app(make_policy())[0].test_client().get(path)).status_code
    off_response = await make_app(make_policy(**{f"features__{flag}": False}))[0].test_client().get(path)
    assert on in (200, 204)
    assert off_response.status_code == 404
    assert off_response.headers["Content-Type"] == "application/json"


async def test_exec_on_in_policy(make_app, make_policy):
    client = make_app(make_policy(features__exec=True))[0].test_client()
    response = await client.post("/slicer/exec", data="__execResult = {'ok': True}")
    assert await response.get_json() == {"ok": True}


async def test_exec_source_in_query_refused_unless_allowed(make_app, make_policy):
    client = make_app(make_policy(features__exec=True))[0].test_client()
    response = await client.get("/slicer/exec", query_string={"source": "__execResult = {'a': 1}"})
    assert response.status_code == 403
    allowed = make_app(make_policy(features__exec=True, features__exec_get_source=True))[0].test_client()
    response = await allowed.get("/slicer/exec", query_string={"source": "__execResult = {'a': 1}"})
    assert await response.get_json() == {"a": 1}


async def test_exec_error_is_500_json_and_audited(make_app, make_policy):
    app, _ = make_app(make_policy(features__exec=True))
    response = await app.test_client().post("/slicer/exec", data="1/0")
    assert response.status_code == 500
    assert "ZeroDivisionError" in (await response.get_json())["message"]
    assert services_of(app).audit.read()[-1]["outcome"] == "error"


def test_cli_toggle_is_seen_by_the_server_and_audited(live_server, tmp_path):
    server = live_server()
    with server.client() as http:
        assert http.post("/slicer/exec", content="__execResult = {}").status_code == 403
        result = subprocess.run([sys.executable, "-m", "slicerweb", "feature", "exec", "on", "--minutes", "5",
                                 "--data-dir", str(server.data_dir)], capture_output=True, text=True,
                                env=subprocess_env(), timeout=30)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("exec: on (until ")
        time.sleep(1.2)  # the server caches feature state for at most one second
        assert http.post("/slicer/exec", content="__execResult = {'v': 1}").json() == {"v": 1}
    lines = [json.loads(line) for line in (server.data_dir / "audit.jsonl").read_text().splitlines()]
    toggles = [line for line in lines if line["event"] == "feature.toggle"]
    assert toggles and toggles[-1]["subject"].startswith("local:") and toggles[-1]["via"] == "cli"
