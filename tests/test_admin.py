"""The admin console's API (/admin/api/...): admin scope on every call, GETs included; a switch needs a
reason, which lands in the audit log with the actor; exec switched on expires by itself, enforced by
the server and audited (`feature.expired`); the policy's exec_toggle = false answers 403 naming the
policy; the audit view pages newest first and filters by actor, action and outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from quart import Quart
from quart import typing as quart_typing

from slicerweb.engine.headless import HeadlessEngine
from slicerweb.policy import Policy
from tests.oidc import RunningIssuer

ADMIN = "slicerweb.admin"
CONSOLE_CALLS = [("GET", "/admin/api/features", None), ("GET", "/admin/api/audit", None),
                 ("PUT", "/admin/api/features/exec", {"enabled": True, "minutes": 5, "reason": "x"}),
                 ("PUT", "/admin/api/features/slicer", {"enabled": False, "reason": "x"})]


@pytest.fixture
def jwt_app(make_app: Callable[..., tuple[Quart, HeadlessEngine]], make_policy: Callable[..., Policy],
            issuer: RunningIssuer) -> Callable[..., Quart]:
    def factory(**dotted: Any) -> Quart:
        policy = make_policy(auth__mode="jwt", auth__issuer=issuer.url, auth__audience=issuer.audience,
                             **dotted)
        return make_app(policy)[0]

    return factory


def bearer(issuer: RunningIssuer, scope: str, subject: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(scope, subject=subject)}"}


async def switch(client: quart_typing.TestClientProtocol, headers: dict[str, str], name: str,
                 **body: Any) -> tuple[int, Any]:
    response = await client.put(f"/admin/api/features/{name}", json=body, headers=headers)
    return response.status_code, await response.get_json()


@pytest.mark.parametrize(("method", "path", "body"), CONSOLE_CALLS)
async def test_every_console_call_needs_the_admin_scope(jwt_app: Callable[..., Quart], issuer: RunningIssuer,
                                                        method: str, path: str, body: Any) -> None:
    app = jwt_app()
    client = app.test_client()
    reader = bearer(issuer, "slicer.read slicer.exec dicomweb.read", subject="bob")
    response = await client.open(path, method=method, json=body, headers=reader)
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    answer = await response.get_json()
    assert answer["code"] == "insufficient_scope" and ADMIN in answer["message"]
    assert (await client.open(path, method=method, json=body)).status_code == 401
    # Nothing changed: exec and slicer are as the policy says.
    states = await (await client.get("/admin/api/features", headers=bearer(issuer, ADMIN))).get_json()
    by_name = {f["name"]: f for f in states["features"]}
    assert by_name["exec"]["enabled"] is False and by_name["slicer"]["enabled"] is True
    denied = [e for e in app.extensions["slicerweb"].audit.read() if e["event"] == "access.denied"]
    assert denied[-2]["subject"] == "bob" and denied[-2]["path"] == path and denied[-2]["status"] == 403


async def test_features_show_ceiling_state_and_who_changed_them(jwt_app: Callable[..., Quart],
                                                                issuer: RunningIssuer) -> None:
    client = jwt_app(features__dicomweb=False).test_client()
    admin = bearer(issuer, ADMIN)
    status, _ = await switch(client, admin, "slicer", enabled=False, reason="maintenance window")
    assert status == 200
    answer = await (await client.get("/admin/api/features", headers=admin)).get_json()
    by_name = {f["name"]: f for f in answer["features"]}
    # Every boolean [features] flag is listed, the toggleable ones with their runtime state.
    assert set(by_name) >= {"static", "dicomweb", "slicer", "dicomweb_write", "exec", "exec_get_source",
                            "exec_toggle", "cors", "health", "metrics"}
    assert by_name["dicomweb"] == {**by_name["dicomweb"], "policy": False, "enabled": False, "kind": "family"}
    slicer = by_name["slicer"]
    assert slicer["policy"] is True and slicer["enabled"] is False
    assert slicer["override"]["changed_by"] == "alice" and slicer["override"]["changed_at"] > 0
    assert by_name["cors"]["toggleable"] is False and by_name["cors"]["override"] is None
    assert answer["exec_toggle"] == {"allowed": True, "max_minutes": 60, "default_minutes": 15}
    assert answer["subject"] == "alice"
    # The policy is the ceiling: a family off in the policy cannot be switched on.
    status, body = await switch(client, admin, "dicomweb", enabled=True, reason="try")
    assert status == 409 and "disabled by the policy" in body["message"]


@pytest.mark.parametrize("body", [{"enabled": True, "minutes": 5}, {"enabled": True, "minutes": 5, "reason": "  "},
                                  {"enabled": True, "minutes": 5, "reason": 7},
                                  {"enabled": True, "minutes": 5, "reason": "x" * 501}])
async def test_a_switch_without_a_reason_is_refused_and_changes_nothing(jwt_app: Callable[..., Quart],
                                                                       issuer: RunningIssuer, body: Any) -> None:
    app = jwt_app()
    client = app.test_client()
    admin = bearer(issuer, ADMIN)
    response = await client.put("/admin/api/features/exec", json=body, headers=admin)
    assert response.status_code == 400 and response.headers["Content-Type"] == "application/json"
    assert "reason" in (await response.get_json())["message"]
    assert (await client.post("/slicer/exec", data="__execResult = {}",
                              headers=bearer(issuer, "slicer.exec"))).status_code == 403
    assert not [e for e in app.extensions["slicerweb"].audit.read() if e["event"] == "feature.toggle"]


async def test_exec_on_with_a_reason_is_audited_works_and_expires_by_itself(jwt_app: Callable[..., Quart],
                                                                           issuer: RunningIssuer) -> None:
    app = jwt_app()
    admin = bearer(issuer, ADMIN)
    runner = bearer(issuer, "slicer.exec", subject="carol")
    async with app.test_app() as running:  # serving: the expiry watcher runs
        client = running.test_client()
        status, state = await switch(client, admin, "exec", enabled=True, minutes=0.02, reason="ticket 42: export")
        assert status == 200 and state["enabled"] is True and state["override"]["expires_at"]
        ran = await client.post("/slicer/exec", data="__execResult = {'answer': 6 * 7}", headers=runner)
        assert ran.status_code == 200 and await ran.get_json() == {"answer": 42}
        audit = app.extensions["slicerweb"].audit
        for _ in range(100):  # 1.2 s of exec, then the watcher's record; no request in between
            if any(e["event"] == "feature.expired" for e in audit.read()):
                break
            await asyncio.sleep(0.1)
        refused = await client.post("/slicer/exec", data="__execResult = {}", headers=runner)
        assert refused.status_code == 403 and "disabled" in (await refused.get_json())["message"]
    events = audit.read()
    toggle = next(e for e in events if e["event"] == "feature.toggle")
    assert toggle["subject"] == "alice" and toggle["reason"] == "ticket 42: export" and toggle["via"] == "console"
    assert toggle["feature"] == "exec" and toggle["old"] is False and toggle["new"] is True
    expired = [e for e in events if e["event"] == "feature.expired"]
    assert len(expired) == 1 and expired[0]["feature"] == "exec" and expired[0]["new"] is False
    assert expired[0]["changed_by"] == "alice" and expired[0]["subject"] == "system"
    assert [e["event"] for e in events].index("exec.run") < [e["event"] for e in events].index("feature.expired")


async def test_exec_needs_the_policy_to_allow_runtime_exec(jwt_app: Callable[..., Quart],
                                                          issuer: RunningIssuer) -> None:
    client = jwt_app(features__exec_toggle=False).test_client()
    status, body = await switch(client, bearer(issuer, ADMIN), "exec", enabled=True, minutes=5, reason="please")
    assert status == 403 and body["code"] == "forbidden"
    assert "features.exec_toggle = false" in body["message"] and "policy" in body["message"]
    status, body = await switch(client, bearer(issuer, ADMIN), "exec", enabled=True, minutes=61, reason="long")
    assert status == 403  # refused for the policy before the duration is even looked at


async def test_exec_duration_is_required_and_bounded(jwt_app: Callable[..., Quart], issuer: RunningIssuer) -> None:
    client = jwt_app(features__exec_toggle_max_minutes=10).test_client()
    admin = bearer(issuer, ADMIN)
    status, body = await switch(client, admin, "exec", enabled=True, reason="no duration")
    assert status == 400 and "minutes" in body["message"]
    status, body = await switch(client, admin, "exec", enabled=True, minutes=11, reason="too long")
    assert status == 409 and "between 0 and 10" in body["message"]
    for minutes in (-1, 0, True, "5"):
        status, body = await switch(client, admin, "exec", enabled=True, minutes=minutes, reason="odd")
        assert status == 400 and body["message"] == "minutes must be a positive number", minutes
    response = await client.put("/admin/api/features/exec", headers={**admin, "Content-Type": "application/json"},
                                data='{"enabled": true, "minutes": NaN, "reason": "nan"}')
    assert response.status_code == 400


async def test_audit_pages_newest_first_with_filters(jwt_app: Callable[..., Quart], issuer: RunningIssuer) -> None:
    app = jwt_app()
    client = app.test_client()
    admin = bearer(issuer, ADMIN)
    for number in range(5):
        assert (await switch(client, admin, "slicer", enabled=number % 2 == 1, reason=f"step {number}"))[0] == 200
    await client.get("/admin/api/features", headers=bearer(issuer, "dicomweb.read", subject="mallory"))
    app.extensions["slicerweb"].audit.flush()

    async def page(**params: str) -> Any:
        response = await client.get("/admin/api/audit", query_string=params, headers=admin)
        assert response.status_code == 200, await response.get_data()
        return await response.get_json()

    first = await page(action="feature.toggle", limit="2")
    assert [e["reason"] for e in first["entries"]] == ["step 4", "step 3"]
    second = await page(action="feature.toggle", limit="2", before=first["next"])
    assert [e["reason"] for e in second["entries"]] == ["step 2", "step 1"]
    last = await page(action="feature.toggle", limit="2", before=second["next"])
    assert [e["reason"] for e in last["entries"]] == ["step 0"] and last["next"] is None
    denied = await page(outcome="denied")
    assert [e["subject"] for e in denied["entries"]] == ["mallory"]
    assert denied["entries"][0]["event"] == "access.denied" and denied["entries"][0]["outcome"] == "denied"
    by_actor = await page(actor="ALI", action="feature")
    assert len(by_actor["entries"]) == 5 and {e["subject"] for e in by_actor["entries"]} == {"alice"}
    assert (await page(actor="nobody"))["entries"] == []


@pytest.mark.parametrize(("params", "named"), [({"outcome": "maybe"}, "outcome"), ({"limit": "0"}, "limit"),
                                               ({"limit": "abc"}, "limit"), ({"before": "../etc"}, "before"),
                                               ({"before": "123-456"}, "before"), ({"actor": "a" * 201}, "actor")])
async def test_bad_audit_parameters_get_a_400_naming_them(jwt_app: Callable[..., Quart], issuer: RunningIssuer,
                                                          params: dict[str, str], named: str) -> None:
    client = jwt_app().test_client()
    await switch(client, bearer(issuer, ADMIN), "slicer", enabled=False, reason="have a log")
    response = await client.get("/admin/api/audit", query_string=params, headers=bearer(issuer, ADMIN))
    assert response.status_code == 400 and response.headers["Content-Type"] == "application/json"
    assert (await response.get_json())["message"].startswith(named)
