"""`app.py`: create_app mounts exactly the families whose flags are on, and its layers run in order.

Contract: a family whose policy flag is off is never mounted, so every path in it is the 404 JSON
of an unknown path (no token asked, nothing revealed); `/admin` is always there; health and metrics
follow their own flags. The layers, outermost first: request id -> header bound -> Host allow-list
-> CORS (a preflight answered before authentication) -> family guard (token) -> body limit ->
handler; security headers go on every answer the app makes. Each layer order is shown by a request
that two layers would answer differently.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from quart import Quart

from slicerweb.engine.headless import HeadlessEngine
from slicerweb.policy import Policy
from tests.oidc import RunningIssuer

MakeApp = Callable[..., tuple[Quart, HeadlessEngine]]
MakePolicy = Callable[..., Policy]

# One path per family that answers 2xx when the family is mounted (auth off: the local operator).
PROBES = {"static": "/index.html", "dicomweb": "/dicom/studies", "slicer": "/slicer/system/version"}
FLAG_SETS = [dict(zip(PROBES, flags, strict=True)) for flags in itertools.product((True, False), repeat=3)]


def prefixes(app: Quart) -> set[str]:
    """The first path segment of every route (what is mounted)."""
    return {rule.rule.split("/")[1] for rule in app.url_map.iter_rules()}


@pytest.mark.parametrize("flags", FLAG_SETS, ids=lambda f: "+".join(k for k, v in f.items() if v) or "none")
async def test_only_the_families_whose_flag_is_on_are_mounted(make_app: MakeApp, make_policy: MakePolicy,
                                                              flags: dict[str, bool]) -> None:
    app, _ = make_app(make_policy(**{f"features.{name}": on for name, on in flags.items()}))
    client = app.test_client()
    for family, path in PROBES.items():
        response = await client.get(path)
        if flags[family]:
            assert response.status_code in (200, 204), (family, response.status_code)
        else:
            assert response.status_code == 404, family
            assert response.headers["Content-Type"] == "application/json"
            assert (await response.get_json())["code"] == "not_found"
    mounted = prefixes(app)
    assert ("slicer" in mounted) == flags["slicer"] and ("dicom" in mounted) == flags["dicomweb"]
    assert "admin" in mounted  # the way to switch things back on is always mounted
    # slicerio's DELETE /system (no /slicer prefix) belongs to the slicer family.
    assert ("system" in mounted) == flags["slicer"]


async def test_health_and_metrics_follow_their_flags(make_app: MakeApp, make_policy: MakePolicy) -> None:
    app, _ = make_app()
    client = app.test_client()
    assert (await (await client.get("/livez")).get_json()) == {"status": "alive"}
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
    off, _ = make_app(make_policy(**{"features.health": False, "features.metrics": False}))
    for path in ("/livez", "/readyz", "/metrics"):
        response = await off.test_client().get(path)
        assert response.status_code == 404 and (await response.get_json())["code"] == "not_found"


async def test_a_disabled_family_answers_as_an_unknown_path_when_auth_is_on(
        make_app: MakeApp, make_policy: MakePolicy, issuer: RunningIssuer) -> None:
    """Not mounted: whatever the token, the caller gets what an unknown path gets (the static family's
    catch-all asks for its own token), so nothing tells that the API exists."""
    app, _ = make_app(make_policy(**{"auth.mode": "jwt", "auth.issuer": issuer.url,
                                     "auth.audience": issuer.audience, "features.slicer": False}))
    client = app.test_client()
    for scope in ("", "slicer.read", "slicerweb.static"):
        headers = {"Authorization": f"Bearer {issuer.mint(scope)}"} if scope else {}
        disabled = await client.get("/slicer/system/version", headers=headers)
        unknown = await client.get("/no-such-page", headers=headers)
        assert disabled.status_code == unknown.status_code, scope
        assert disabled.headers.get("WWW-Authenticate") == unknown.headers.get("WWW-Authenticate")
        assert (await disabled.get_json())["code"] == (await unknown.get_json())["code"]
    assert disabled.status_code == 404  # with the static scope: the plain 404 of an unknown page
    mounted = await client.get("/dicom/studies", headers={"Authorization": f"Bearer {issuer.mint('slicer.read')}"})
    assert mounted.status_code == 403 and 'scope="dicomweb.read"' in mounted.headers["WWW-Authenticate"]


async def test_every_answer_carries_a_request_id_even_a_host_refusal(make_app: MakeApp) -> None:
    """The request id layer is outermost: it wraps the Host check."""
    app, _ = make_app()
    refused = await app.test_client().get("/slicer/system/version", headers={"Host": "evil.example",
                                                                              "X-Request-ID": "req-app-1"})
    assert refused.status_code == 403
    assert (await refused.get_json())["code"] == "host_not_allowed"
    assert refused.headers["X-Request-ID"] == "req-app-1"


async def test_the_header_bound_comes_before_the_host_check(make_app: MakeApp) -> None:
    app, _ = make_app()
    response = await app.test_client().get("/", headers={"Host": "evil.example", "X-Big": "a" * 70000})
    assert response.status_code == 431
    assert (await response.get_json())["code"] == "headers_too_large"
    assert "X-Request-ID" in response.headers


async def test_the_host_check_comes_before_authentication(make_app: MakeApp, make_policy: MakePolicy,
                                                          issuer: RunningIssuer) -> None:
    app, _ = make_app(make_policy(**{"auth.mode": "jwt", "auth.issuer": issuer.url,
                                     "auth.audience": issuer.audience}))
    response = await app.test_client().get("/dicom/studies", headers={"Host": "rebound.example"})
    assert response.status_code == 403 and "WWW-Authenticate" not in response.headers
    assert (await response.get_json())["code"] == "host_not_allowed"


async def test_a_preflight_is_answered_before_authentication(make_app: MakeApp, make_policy: MakePolicy,
                                                             issuer: RunningIssuer) -> None:
    origin = "https://viewer.example"
    app, _ = make_app(make_policy(**{"auth.mode": "jwt", "auth.issuer": issuer.url,
                                     "auth.audience": issuer.audience, "features.cors": True,
                                     "cors.allow_origins": [origin]}))
    client = app.test_client()
    preflight = await client.options("/dicom/studies", headers={
        "Origin": origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    # The actual request still needs its token, and its refusal is readable cross-origin.
    refused = await client.get("/dicom/studies", headers={"Origin": origin})
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == origin


async def test_authentication_comes_before_the_body_limit(make_app: MakeApp, make_policy: MakePolicy,
                                                          issuer: RunningIssuer) -> None:
    """An anonymous caller learns nothing from the limits (401, not 413), and the body stays unread."""
    app, _ = make_app(make_policy(**{"auth.mode": "jwt", "auth.issuer": issuer.url,
                                     "auth.audience": issuer.audience, "limits.max_body_bytes": 16}))
    client = app.test_client()
    anonymous = await client.put("/admin/features/exec", data=b"x" * 1000)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"] == 'Bearer realm="slicerweb"'
    admitted = await client.put("/admin/features/exec", data=b"x" * 1000,
                                headers={"Authorization": f"Bearer {issuer.mint('slicerweb.admin')}"})
    assert admitted.status_code == 413 and (await admitted.get_json())["code"] == "payload_too_large"


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/slicer/system/version", 200), ("GET", "/slicer/no-such", 404), ("GET", "/index.html", 200),
    ("POST", "/slicer/system/version", 405)])
async def test_security_headers_are_on_answers_and_errors_alike(make_app: MakeApp, method: str, path: str,
                                                                status: int) -> None:
    app, _ = make_app()
    client = app.test_client()
    response = await (client.post(path) if method == "POST" else client.get(path))
    assert response.status_code == status
    headers: Any = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "default-src" in headers["Content-Security-Policy"]
