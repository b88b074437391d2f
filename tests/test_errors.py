"""One error shape for every family: JSON `{success: false, message, code}`, exact Content-Type."""

from __future__ import annotations

import pytest

from slicerweb.engine.protocol import VersionInfo

FAMILY_PATHS = ["/slicer/no-such-endpoint", "/dicom/no-such-resource", "/admin/no-such", "/no-such-page.html"]


def assert_error_shape(response, status, body):
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert body["success"] is False
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["code"], str)


@pytest.mark.parametrize("path", FAMILY_PATHS)
async def test_unknown_path_in_every_family_is_404_json(make_app, path):
    app, _ = make_app()
    response = await app.test_client().get(path)
    assert_error_shape(response, 404, await response.get_json())


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/slicer/system/version"), ("DELETE", "/dicom/studies"), ("POST", "/admin/features"),
    ("POST", "/index.html")])
async def test_wrong_method_is_405_json_with_allow(make_app, method, path):
    app, _ = make_app()
    response = await app.test_client().open(path, method=method)
    assert_error_shape(response, 405, await response.get_json())
    assert "GET" in response.headers["Allow"]


async def test_oversized_body_is_413_json(make_app, make_policy):
    app, _ = make_app(make_policy(limits__max_body_bytes=64))
    response = await app.test_client().put("/admin/features/exec", data=b"x" * 1000)
    assert_error_shape(response, 413, await response.get_json())


async def test_bad_json_is_400(make_app):
    app, _ = make_app()
    response = await app.test_client().put("/admin/features/exec", data=b"{not json")
    assert_error_shape(response, 400, await response.get_json())


class BrokenSystem:
    async def version(self) -> VersionInfo:
        raise RuntimeError("secret detail /etc/shadow")

    async def request_shutdown(self) -> None:
        return None


async def test_unexpected_error_is_500_without_details(make_app):
    app, engine = make_app()
    engine.system = BrokenSystem()
    response = await app.test_client().get("/slicer/system/version", headers={"X-Request-ID": "req-42"})
    body = await response.get_json()
    assert_error_shape(response, 500, body)
    assert "secret" not in body["message"] and "Traceback" not in body["message"]
    assert body["request_id"] == "req-42"
    # The server keeps serving.
    assert (await app.test_client().get("/")).status_code == 200
