"""Host allow-list (DNS-rebinding protection): unknown Host values are refused before routing."""

from __future__ import annotations

import pytest

from slicerweb.hosts import host_name


@pytest.mark.parametrize(("raw", "name"), [
    ("127.0.0.1:2016", "127.0.0.1"), ("LocalHost", "localhost"), ("[::1]:2016", "[::1]"), ("[::1]", "[::1]"),
    ("slicer.hospital.lan", "slicer.hospital.lan")])
def test_host_name(raw, name):
    assert host_name(raw) == name


@pytest.mark.parametrize("host", ["127.0.0.1:2016", "localhost:8080", "[::1]:2016", "localhost"])
async def test_loopback_hosts_pass(make_app, host):
    client = make_app()[0].test_client()
    assert (await client.get("/slicer/system/version", headers={"Host": host})).status_code == 200


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:2016", "127.0.0.1.nip.io", ""])
async def test_rebinding_hosts_are_refused(make_app, host):
    client = make_app()[0].test_client()
    response = await client.get("/slicer/system/version", headers={"Host": host})
    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/json"
    assert (await response.get_json())["code"] == "host_not_allowed"


async def test_configured_host(make_app, make_policy):
    client = make_app(make_policy(server__allowed_hosts=["slicer.hospital.lan"]))[0].test_client()
    assert (await client.get("/", headers={"Host": "slicer.hospital.lan"})).status_code == 200
    assert (await client.get("/", headers={"Host": "127.0.0.1"})).status_code == 403
