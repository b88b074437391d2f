"""Health and metrics behind the bundled proxies: never reachable from the public front, counters
move per family and status for requests that came through the proxy, and Caddy's active upstream
check follows /readyz."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from slicerweb.devstack.stack import Stack, start_stack
from tests.oidc import RunningIssuer
from tests.proxy.fronts import PROXIES, stack_client
from tests.proxy.test_edge import bearer, stack_policy
from tests.test_metrics import samples, value

pytestmark = pytest.mark.proxy


@pytest.fixture(scope="module", params=PROXIES)
def stack(request: pytest.FixtureRequest, issuer: RunningIssuer,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(request.param, tmp_path_factory.mktemp(request.param), stack_policy(issuer))
    yield running
    running.stop()


@pytest.fixture
def public(stack: Stack) -> Iterator[httpx.Client]:
    with stack_client(stack) as client:
        yield client


@pytest.fixture
def local(stack: Stack) -> Iterator[httpx.Client]:
    """The app's own socket, as systemd or a monitoring agent on the host would reach it."""
    with httpx.Client(base_url="http://localhost", transport=httpx.HTTPTransport(uds=str(stack.app_socket)),
                      timeout=30) as client:
        yield client


@pytest.mark.parametrize("path", ["/livez", "/readyz", "/metrics"])
def test_ops_endpoints_are_not_public(public: httpx.Client, local: httpx.Client, issuer: RunningIssuer,
                                      path: str) -> None:
    refused = public.get(path, headers=bearer(issuer, "slicerweb.metrics slicerweb.admin"))
    assert refused.status_code == 404
    assert refused.json()["code"] == "not_found"
    assert local.get(path).status_code == 200


def test_counters_move_per_family_and_status_through_the_proxy(public: httpx.Client, local: httpx.Client,
                                                                issuer: RunningIssuer) -> None:
    before = samples(local.get("/metrics").text)
    for _ in range(2):
        assert public.get("/dicom/studies", headers=bearer(issuer, "dicomweb.read")).status_code == 204  # empty
    assert public.get("/slicer/system/version", headers=bearer(issuer, "dicomweb.read")).status_code == 403
    after = samples(local.get("/metrics").text)

    def moved(**labels: str) -> float:
        return value(after, "slicerweb_http_requests_total", **labels) - \
            value(before, "slicerweb_http_requests_total", **labels)

    assert moved(family="dicomweb", route="/dicom/studies", method="GET", status="204") == 2
    # The edge's verifier sub-requests are counted under their own family.
    assert moved(family="verifier", route="/auth/verify", method="GET", status="204") >= 2
    assert moved(family="verifier", route="/auth/verify", method="GET", status="403") >= 1
    assert value(after, "slicerweb_auth_failures_total", reason="insufficient_scope") - \
        value(before, "slicerweb_auth_failures_total", reason="insufficient_scope") >= 1


def test_caddy_stops_proxying_while_the_app_is_not_ready(stack: Stack, public: httpx.Client, local: httpx.Client,
                                                         issuer: RunningIssuer) -> None:
    if stack.proxy != "caddy":
        pytest.skip("nginx (open source) has no active upstream health checks")
    # The whole database directory goes (as an unmounted volume would): a bare missing index file
    # would be recreated empty by the app's next reader connection, next to the old WAL.
    database = stack.data_dir / "dicom"
    token = bearer(issuer, "dicomweb.read")
    database.rename(database.with_suffix(".moved"))
    try:
        down = poll(lambda: public.get("/dicom/studies", headers=token).status_code, 503)
    finally:
        database.with_suffix(".moved").rename(database)
    assert down == 503
    assert local.get("/readyz").status_code == 200, local.get("/readyz").text
    assert poll(lambda: public.get("/dicom/studies", headers=token).status_code, 204) == 204


def poll(status: object, wanted: int, deadline: float = 90) -> int:
    """Ask until the answer is `wanted` (Caddy checks every 5 s; slower on a loaded machine) or the deadline passes."""
    end = time.monotonic() + deadline
    got = 0
    while time.monotonic() < end:
        got = status()  # type: ignore[operator]
        if got == wanted:
            break
        time.sleep(0.5)
    return got
