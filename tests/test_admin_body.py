"""PUT /admin/features/<name> with a body that is not UTF-8 JSON: 400 JSON naming the expected body,
the flag unchanged. Found by schemathesis in `make audit` (audit/openapi_fuzz.py): it answered 500
(Quart's get_json decodes the body as text before its `silent` handling)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.mark.parametrize("body", [b"\xff\xfe4\x06\"", b"{\"enabled\": tr", b"[]"])
async def test_undecodable_body_is_400_and_changes_nothing(make_app: Callable[..., Any], body: bytes) -> None:
    app, _ = make_app()
    async with app.test_app() as test_app:
        client = test_app.test_client()
        before = await (await client.get("/admin/features/dicomweb")).get_json()
        response = await client.put("/admin/features/dicomweb", data=body,
                                    headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and response.content_type == "application/json"
        assert "enabled" in (await response.get_json())["message"]
        assert await (await client.get("/admin/features/dicomweb")).get_json() == before
