"""CORS contract: off means no CORS headers at all; on means only listed origins, Vary: Origin,
preflights answered before authentication, and a wildcard never with credentials."""

from __future__ import annotations

import pytest

ALLOWED = "https://viewer.hospital.lan"


@pytest.fixture
def cors_app(make_app, make_policy):
    def factory(**overrides):
        policy = make_policy(features__cors=True, cors__allow_origins=[ALLOWED], **overrides)
        return make_app(policy)[0].test_client()

    return factory


def cors_headers(headers) -> list[str]:
    return [name for name, _ in headers.items() if name.lower().startswith("access-control-")]


async def test_cors_off_sends_no_cors_headers(make_app):
    client = make_app()[0].test_client()
    response = await client.get("/slicer/system/version", headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert not cors_headers(response.headers)
    preflight = await client.options("/slicer/system/version", headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "GET"})
    assert not cors_headers(preflight.headers)


async def test_listed_origin_is_echoed_with_vary(cors_app):
    response = await cors_app().get("/slicer/system/version", headers={"Origin": ALLOWED})
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Origin" in response.headers.get_all("Vary")
    assert "Warning" in response.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_other_origin_gets_no_allow_origin(cors_app):
    response = await cors_app().get("/slicer/system/version", headers={"Origin": "https://evil.example"})
    assert response.status_code == 200  # CORS is enforced by the browser, which sees no allow header
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Origin" in response.headers.get_all("Vary")


async def test_error_responses_carry_cors_headers_too(cors_app):
    response = await cors_app().get("/slicer/nope", headers={"Origin": ALLOWED})
    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert (await response.get_json())["code"] == "not_found"  # the body a cross-origin script may now read


async def test_preflight_allowed(cors_app):
    response = await cors_app().options("/dicom/studies", headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, accept"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Max-Age"] == "600"


@pytest.mark.parametrize(("origin", "method", "headers", "reason"), [
    ("https://evil.example", "GET", "", "origin not allowed"),
    (ALLOWED, "TRACE", "", "method TRACE not allowed"),
    (ALLOWED, "POST", "x-custom", "headers not allowed: x-custom"),
])
async def test_preflight_refused(cors_app, origin, method, headers, reason):
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        request_headers["Access-Control-Request-Headers"] = headers
    response = await cors_app().options("/slicer/system/version", headers=request_headers)
    assert response.status_code == 403
    assert reason in (await response.get_json())["message"]
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_wildcard_echoes_star_without_credentials(make_app, make_policy):
    client = make_app(make_policy(features__cors=True, cors__allow_origins=["*"]))[0].test_client()
    response = await client.get("/slicer/system/version", headers={"Origin": "https://any.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_credentials_only_for_listed_origins(cors_app):
    response = await cors_app(cors__allow_credentials=True).get("/", headers={"Origin": ALLOWED})
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
