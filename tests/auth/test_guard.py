"""`auth/guard.py`: the before-request hook of every family, in its documented order.

Contract, as a caller sees it: a family switched off at runtime is 404 (before any token check, so
it reveals nothing); a token in the query string is 400 `invalid_request` even next to a valid
header; then 401 without a valid token, 403 `insufficient_scope` naming the scope, 403 while exec is
off; a refused body is never handed to the handler. Every denial leaves an `access.denied` audit
record (reason, status, path, never the token) and every privileged act an audit record with its
subject and outcome. The app runs in-process against a real local issuer (signed JWTs, real JWKS).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from quart import Quart

from slicerweb.app import services_of
from slicerweb.engine.headless import HeadlessEngine
from slicerweb.policy import Policy
from tests.oidc import RunningIssuer

MakeApp = Callable[..., tuple[Quart, HeadlessEngine]]
MakePolicy = Callable[..., Policy]
BARE = 'Bearer realm="slicerweb"'


@pytest.fixture
def jwt_app(make_app: MakeApp, make_policy: MakePolicy, issuer: RunningIssuer) -> Callable[..., Quart]:
    def factory(**dotted: Any) -> Quart:
        policy = make_policy(**{"auth.mode": "jwt", "auth.issuer": issuer.url, "auth.audience": issuer.audience,
                                "features.dicomweb_write": True, **dotted})
        return make_app(policy)[0]

    return factory


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def denials(app: Quart) -> list[dict[str, Any]]:
    return [r for r in services_of(app).audit.read() if r["event"] == "access.denied"]


def assert_json_error(response: Any, body: dict[str, Any], status: int, code: str) -> None:
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert body["success"] is False and body["code"] == code and body["message"]


async def test_a_valid_token_with_the_scope_reaches_the_handler(jwt_app: Callable[..., Quart],
                                                                issuer: RunningIssuer) -> None:
    app = jwt_app()
    response = await app.test_client().get("/slicer/system/version", headers=bearer(issuer.mint("slicer.read")))
    assert response.status_code == 200
    assert (await response.get_json())["applicationName"] == "SlicerWeb"
    assert denials(app) == []


async def test_no_token_is_401_bare_challenge_and_an_audited_denial(jwt_app: Callable[..., Quart]) -> None:
    app = jwt_app()
    response = await app.test_client().get("/dicom/studies", headers={"X-Request-ID": "req-guard-1"})
    assert_json_error(response, await response.get_json(), 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == BARE
    [denial] = denials(app)
    assert denial["subject"] == "anonymous" and denial["status"] == 401 and denial["path"] == "/dicom/studies"
    assert denial["action"] == "dicomweb_read" and denial["request_id"] == "req-guard-1"
    assert denial["reason"] == "a bearer token is required (Authorization: Bearer ...)"


async def test_a_token_without_the_scope_is_403_naming_the_scope(jwt_app: Callable[..., Quart],
                                                                 issuer: RunningIssuer) -> None:
    app = jwt_app()
    response = await app.test_client().post("/dicom/studies", headers=bearer(issuer.mint("dicomweb.read")),
                                            data=b"never read")
    body = await response.get_json()
    assert_json_error(response, body, 403, "insufficient_scope")
    assert body["message"] == "insufficient scope: needs one of the scopes: dicomweb.write"
    assert response.headers["WWW-Authenticate"] == (
        f'{BARE}, error="insufficient_scope", error_description="needs one of the scopes: dicomweb.write", '
        'scope="dicomweb.write"')
    [denial] = denials(app)
    assert denial["subject"] == "alice" and denial["status"] == 403 and denial["action"] == "dicomweb_write"


async def test_a_query_string_token_is_refused_before_the_header_is_looked_at(jwt_app: Callable[..., Quart],
                                                                              issuer: RunningIssuer) -> None:
    app = jwt_app()
    token = issuer.mint("dicomweb.read")
    response = await app.test_client().get(f"/dicom/studies?access_token={token}", headers=bearer(token))
    body = await response.get_json()
    assert_json_error(response, body, 400, "bad_request")
    assert body["message"] == "access tokens are accepted only in the Authorization header (RFC 6750 §2.1)"
    assert response.headers["WWW-Authenticate"] == (
        f'{BARE}, error="invalid_request", error_description="token in query string"')
    assert token not in await response.get_data(as_text=True)
    [denial] = denials(app)
    assert denial["status"] == 400 and denial["reason"] == "token in query string"
    assert token not in str(denial)


async def test_a_family_switched_off_at_runtime_is_404_before_any_token_check(jwt_app: Callable[..., Quart],
                                                                              issuer: RunningIssuer) -> None:
    app = jwt_app()
    admin = bearer(issuer.mint("slicerweb.admin", subject="root"))
    client = app.test_client()
    switched = await client.put("/admin/features/dicomweb", headers=admin, json={"enabled": False})
    assert switched.status_code == 200 and (await switched.get_json())["enabled"] is False
    for headers in ({}, bearer(issuer.mint("dicomweb.read"))):
        response = await client.get("/dicom/studies", headers=headers)
        assert_json_error(response, await response.get_json(), 404, "not_found")
        assert "WWW-Authenticate" not in response.headers
    # The admin family is never switched off that way: the way back stays open.
    restored = await client.delete("/admin/features/dicomweb", headers=admin)
    assert (await restored.get_json())["enabled"] is True
    assert (await client.get("/dicom/studies", headers=bearer(issuer.mint("dicomweb.read")))).status_code in (200, 204)


async def test_exec_needs_the_scope_and_then_the_gate(jwt_app: Callable[..., Quart], issuer: RunningIssuer) -> None:
    app = jwt_app()
    client = app.test_client()
    source = {"data": b"__execResult = {'answer': 42}"}
    writer = await client.post("/slicer/exec", headers=bearer(issuer.mint("slicer.write")), **source)
    assert_json_error(writer, await writer.get_json(), 403, "insufficient_scope")
    assert 'scope="slicer.exec"' in writer.headers["WWW-Authenticate"]
    gated = await client.post("/slicer/exec", headers=bearer(issuer.mint("slicer.exec")), **source)
    body = await gated.get_json()
    assert_json_error(gated, body, 403, "forbidden")
    assert body["message"].startswith("remote exec is disabled")
    assert "WWW-Authenticate" not in gated.headers  # the token is fine: nothing to retry with another one
    events = [r["event"] for r in services_of(app).audit.read()]
    assert events == ["access.denied", "exec.denied"]


async def test_a_privileged_act_is_audited_with_subject_and_outcome(jwt_app: Callable[..., Quart],
                                                                    issuer: RunningIssuer) -> None:
    app = jwt_app()
    response = await app.test_client().put("/admin/features/exec", headers={
        **bearer(issuer.mint("slicerweb.admin", subject="root")), "X-Request-ID": "req-guard-2"},
        json={"enabled": True, "minutes": 5})
    assert response.status_code == 200 and (await response.get_json())["enabled"] is True
    [act] = [r for r in services_of(app).audit.read() if r["event"] == "admin"]
    assert act["subject"] == "root" and act["status"] == 200 and act["method"] == "PUT"
    assert act["path"] == "/admin/features/exec" and act["request_id"] == "req-guard-2"


async def test_a_read_is_not_audited(jwt_app: Callable[..., Quart], issuer: RunningIssuer) -> None:
    app = jwt_app()
    response = await app.test_client().get("/admin/features", headers=bearer(issuer.mint("slicerweb.admin")))
    assert response.status_code == 200
    assert [r["event"] for r in services_of(app).audit.read()] == ["admin"]  # GET /admin is an admin act
    reader = await app.test_client().get("/slicer/system/version", headers=bearer(issuer.mint("slicer.read")))
    assert reader.status_code == 200
    assert [r["event"] for r in services_of(app).audit.read()] == ["admin"]


async def test_a_public_action_needs_no_token_but_a_bad_one_is_still_refused(jwt_app: Callable[..., Quart]) -> None:
    app = jwt_app(**{"auth.public": ["static"]})
    client = app.test_client()
    page = await client.get("/index.html")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    refused = await client.get("/index.html", headers=bearer("not.a.jwt"))
    assert_json_error(refused, await refused.get_json(), 401, "unauthorized")
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert (await client.get("/slicer/system/version")).status_code == 401  # only the listed action is open


async def test_bad_tokens_are_throttled_but_a_valid_one_still_passes(jwt_app: Callable[..., Quart],
                                                                     issuer: RunningIssuer) -> None:
    app = jwt_app(**{"auth.failure_limit": 3})
    client = app.test_client()
    statuses = [(await client.get("/slicer/system/version", headers=bearer(f"bad{n}"))).status_code
                for n in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    throttled = await client.get("/slicer/system/version")
    assert_json_error(throttled, await throttled.get_json(), 429, "too_many_requests")
    assert int(throttled.headers["Retry-After"]) >= 1
    served = await client.get("/slicer/system/version", headers=bearer(issuer.mint("slicer.read")))
    assert served.status_code == 200
    assert [d["status"] for d in denials(app)] == [401, 401, 401, 429, 429, 429]


async def test_auth_off_admits_the_local_operator_without_a_token(make_app: MakeApp) -> None:
    app, _ = make_app()
    response = await app.test_client().put("/admin/features/exec", json={"enabled": True, "minutes": 1})
    assert response.status_code == 200 and (await response.get_json())["enabled"] is True
    [act] = [r for r in services_of(app).audit.read() if r["event"] == "admin"]
    assert act["subject"] == "local"
