"""Rate limits at the edge: repeated authentication failures earn 429 through both proxies (counted
by the app's verifier, since stock Caddy has no rate limiting and nginx cannot key on the verdict),
and nginx's per-client request limit on /slicer/exec answers 429 too. Neither ever refuses a valid
token because others failed from the same address (ASVS 2.2.1; one NAT, many clinicians)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from slicerweb.devstack.stack import Stack, start_stack
from tests.oidc import RunningIssuer, auth_policy
from tests.proxy.fronts import PROXIES, stack_client

pytestmark = pytest.mark.proxy


@pytest.fixture(scope="module", params=PROXIES)
def stack(request: pytest.FixtureRequest, issuer: RunningIssuer,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    policy = auth_policy(issuer, extra='trusted_proxies = ["127.0.0.1"]', allowed_hosts='["localhost"]')
    running = start_stack(request.param, tmp_path_factory.mktemp(request.param),
                          policy.replace("failure_limit = 1000", "failure_limit = 3"), api_rate="1r/s")
    yield running
    running.stop()


def test_nginx_limits_exec_requests(stack: Stack, issuer: RunningIssuer) -> None:
    if stack.proxy != "nginx":
        pytest.skip("stock Caddy has no request-rate limiting (see proxy/caddy)")
    token = {"Authorization": f"Bearer {issuer.mint('slicer.exec')}"}
    with stack_client(stack) as http:
        statuses = [http.post("/slicer/exec", content=b"1", headers=token).status_code for _ in range(20)]
    assert set(statuses) <= {403, 429}  # exec is off: 403 until the limit trips
    assert 429 in statuses and statuses[0] == 403


def test_repeated_auth_failures_get_429_through_the_proxy(stack: Stack, issuer: RunningIssuer) -> None:
    with stack_client(stack) as http:
        for _ in range(3):
            assert http.get("/slicer/system/version", headers={"Authorization": "Bearer forged"}).status_code == 401
        blocked = http.get("/slicer/system/version", headers={"Authorization": "Bearer forged"})
        good = {"Authorization": f"Bearer {issuer.mint('slicer.read')}"}
        served = http.get("/slicer/system/version", headers=good)
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    assert blocked.headers["content-type"].startswith("application/json")
    assert served.status_code == 200 and served.json()["applicationName"] == "SlicerWeb"


def test_a_bad_token_flood_past_nginx_rate_limit_leaves_valid_tokens_served(stack: Stack,
                                                                            issuer: RunningIssuer) -> None:
    """nginx's request-rate zone is keyed per credential, so exhausting it with one token spares the others."""
    if stack.proxy != "nginx":
        pytest.skip("stock Caddy has no request-rate limiting (see proxy/caddy)")
    flood = {"Authorization": "Bearer forged-flood"}
    with stack_client(stack) as http:
        for _ in range(450):  # burst 400 at 1 r/s (the fixture's API rate)
            refused = http.get("/slicer/system/version", headers=flood)
            if refused.json()["message"] == "rate limit exceeded":
                break
        else:
            pytest.fail("nginx never rate-limited 450 requests in a 400-request burst")
        assert refused.status_code == 429
        served = http.get("/slicer/system/version", headers={"Authorization": f"Bearer {issuer.mint('slicer.read')}"})
        assert served.status_code == 200 and served.json()["applicationName"] == "SlicerWeb"
