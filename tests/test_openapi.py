"""The OpenAPI document (`openapi.py`): every /slicer and /admin route of the url_map is described
(a new route without an entry fails here), no entry describes a route that does not exist, the
document served at /slicer/openapi.json is OpenAPI 3.1 with the same paths and needs the slicer
read scope like any other /slicer read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slicerweb.openapi import OPERATIONS, document, openapi_path, routes, undescribed
from tests.oidc import RunningIssuer, auth_policy


def test_every_route_is_described_and_every_description_has_a_route(make_app: Callable[..., Any],
                                                                     make_policy: Callable[..., Any]) -> None:
    app, _ = make_app(make_policy(features__exec=True, features__dicomweb_write=True))
    assert undescribed(app) == []
    assert sorted(set(OPERATIONS) - set(routes(app))) == []


def test_paths_use_openapi_templates() -> None:
    assert openapi_path("/slicer/mrml/<path:sub>") == "/slicer/mrml/{sub}"
    assert openapi_path("/admin/features/<name>") == "/admin/features/{name}"


async def test_document_is_served_as_openapi_3_1(make_app: Callable[..., Any]) -> None:
    app, _ = make_app()
    async with app.test_app() as test_app:
        response = await test_app.test_client().get("/slicer/openapi.json")
        assert response.status_code == 200 and response.content_type == "application/json"
        served = await response.get_json()
    assert served == document(app)
    assert served["openapi"] == "3.1.0"
    assert {"/slicer/mrml/{sub}", "/admin/features/{name}", "/slicer/volume"} <= set(served["paths"])
    volume_post = served["paths"]["/slicer/volume"]["post"]
    assert volume_post["requestBody"]["content"] == {"application/octet-stream": {"schema": {
        "type": "string", "format": "binary"}}}
    assert served["paths"]["/slicer/slice"]["get"]["responses"]["200"]["content"].keys() == {"image/png"}


def test_a_route_missing_from_the_table_is_reported(make_app: Callable[..., Any]) -> None:
    app, _ = make_app()
    blueprint_route = next(rule for rule in app.url_map.iter_rules() if rule.endpoint == "slicer.volumes")
    app.url_map.add(type(blueprint_route)("/slicer/newThing", endpoint="slicer.volumes", methods=["GET"]))
    assert undescribed(app) == [("GET", "/slicer/newThing")]


def test_document_needs_the_slicer_read_scope(live_server: Callable[..., Any], issuer: RunningIssuer) -> None:
    server = live_server(policy_toml=auth_policy(issuer))
    with server.client() as client:
        for scope, status in ((None, 401), ("dicomweb.read", 403), ("slicer.read", 200)):
            headers = {"Authorization": f"Bearer {issuer.mint(scope)}"} if scope else {}
            response = client.get("/slicer/openapi.json", headers=headers)
            assert response.status_code == status, scope
            assert response.headers["content-type"] == "application/json"
            assert ("paths" in response.json()) == (status == 200)
