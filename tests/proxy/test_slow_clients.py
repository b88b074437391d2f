"""Slow clients through real nginx and real Caddy (audit/slowclients.py, TLS with SNI): while 30
slow-header and 30 slow-body connections trickle from one address, a normal client on another keeps
getting 200s, and the fronts close the slow-header connections (header timeout 10 s) before the
attack ends. `make audit` runs 300 + 300 for longer and reports the figures."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from audit.slowclients import Target, attack
from slicerweb.devstack.stack import Stack, start_stack
from tests.oidc import RunningIssuer, auth_policy
from tests.proxy.fronts import PROXIES

pytestmark = pytest.mark.proxy


@pytest.fixture(scope="module", params=PROXIES)
def stack(request: pytest.FixtureRequest, issuer: RunningIssuer,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    policy = auth_policy(issuer, extra='trusted_proxies = ["127.0.0.1"]', allowed_hosts='["localhost"]')
    running = start_stack(request.param, tmp_path_factory.mktemp(request.param), policy)
    yield running
    running.stop()


def test_normal_client_is_served_during_a_slow_client_attack(stack: Stack, issuer: RunningIssuer) -> None:
    target = Target("127.0.0.1", stack.https_port, stack.server_name, stack.certs.ca_cert,
                    issuer.mint("slicer.read slicer.write", lifetime=600))
    result = asyncio.run(attack(target, slow_header=30, slow_body=30, seconds=12, interval=2.0))
    print(stack.proxy, result.summary())
    assert result.opened == {"header": 30, "body": 30} and result.refused == {"header": 0, "body": 0}
    assert result.normal_errors == []
    assert result.normal_ok >= 10
    assert len(result.closed_after["header"]) == 30, "slow-header connections outlived the header timeout"
