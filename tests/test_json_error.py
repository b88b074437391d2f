"""One JSON error writer: an ASGI layer's refusal and a handler's look the same to a client."""

from __future__ import annotations

import json

REQUEST_ID = {"X-Request-ID": "same-id"}


def header_list(response) -> list[tuple[str, str]]:
    """Every header in order, lower-cased names, without Content-Length (the bodies differ)."""
    return [(name.lower(), value) for name, value in response.headers.items() if name.lower() != "content-length"]


async def test_asgi_and_handler_errors_have_identical_headers(make_app, make_policy):
    app, _ = make_app(make_policy(features__exec=True))
    client = app.test_client()
    from_layer = await client.get("/slicer/system/version", headers={"Host": "attacker.example", **REQUEST_ID})
    from_handler = await client.get("/slicer/exec?source=1", headers=REQUEST_ID)
    assert (from_layer.status_code, from_handler.status_code) == (403, 403)
    layer_body, handler_body = json.loads(await from_layer.get_data()), json.loads(await from_handler.get_data())
    assert layer_body["code"] == "host_not_allowed" and "source in the query string" in handler_body["message"]
    assert list(layer_body) == list(handler_body) == ["success", "message", "code"]
    assert header_list(from_layer) == header_list(from_handler)
    names = dict(header_list(from_layer))
    assert names["content-type"] == "application/json" and names["cache-control"] == "no-store"
    assert names["x-frame-options"] == "DENY" and "content-security-policy" in names
    assert int(from_layer.headers["Content-Length"]) == len(await from_layer.get_data())


async def test_asgi_error_body_is_encoded_like_a_handlers(make_app):
    client = make_app()[0].test_client()
    from_layer = await client.get("/", headers={"Host": "attacker.example"})
    from_handler = await client.get("/slicer/no-such-endpoint")
    # Same encoder: compact separators, one trailing newline, ASCII escapes.
    for raw in (await from_layer.get_data(), await from_handler.get_data()):
        assert raw.endswith(b"}\n") and b'", "' not in raw and raw == json.dumps(
            json.loads(raw), separators=(",", ":")).encode() + b"\n"
