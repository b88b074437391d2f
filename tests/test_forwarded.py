"""`forwarded.py`: who is asking and which URL they used, from proxy headers only when the peer is trusted.

Contract: `Forwarded` (RFC 7239, first element wins) and `X-Forwarded-For/Proto/Host/Port/Prefix`
count only when the direct peer is in `server.trusted_proxies` (a Unix-socket peer counts when any
proxy is trusted); otherwise a client could forge its address (audit log, failure throttling) or the
URLs we hand out. A scheme other than http/https is ignored; `server.public_url` fixes scheme, host
and prefix whatever the headers say, while the client address still comes from the trusted proxy.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from quart import Quart

from slicerweb.app import services_of
from slicerweb.engine.headless import HeadlessEngine
from slicerweb.forwarded import Origin, ProxyTrust, header_map
from slicerweb.policy import Policy

MakePolicy = Callable[..., Policy]
MakeApp = Callable[..., tuple[Quart, HeadlessEngine]]
FORGED = {"host": "127.0.0.1:2016", "x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https",
          "x-forwarded-host": "evil.example", "x-forwarded-prefix": "/evil",
          "forwarded": "for=203.0.113.9;proto=https;host=evil.example"}


def trust(make_policy: MakePolicy, *proxies: str, public_url: str = "") -> ProxyTrust:
    return ProxyTrust(make_policy(**{"server.trusted_proxies": list(proxies), "server.public_url": public_url}))


def test_headers_from_an_untrusted_peer_are_ignored(make_policy: MakePolicy) -> None:
    assert trust(make_policy).resolve("10.0.0.5", "http", FORGED) == Origin("10.0.0.5", "http", "127.0.0.1:2016")
    only_other = trust(make_policy, "10.0.0.1/32")
    assert only_other.resolve("10.0.0.5", "http", FORGED).client == "10.0.0.5"


def test_x_forwarded_headers_from_a_trusted_proxy(make_policy: MakePolicy) -> None:
    headers = {"host": "app.sock", "x-forwarded-for": "192.0.2.7, 10.0.0.1", "x-forwarded-proto": "https",
               "x-forwarded-host": "pacs.hospital.lan", "x-forwarded-port": "8443",
               "x-forwarded-prefix": "/slicer-a/"}
    origin = trust(make_policy, "10.0.0.0/8").resolve("10.0.0.1", "http", headers)
    assert origin == Origin("192.0.2.7", "https", "pacs.hospital.lan:8443", "/slicer-a")
    assert origin.base_url == "https://pacs.hospital.lan:8443/slicer-a"


@pytest.mark.parametrize(("port", "host"), [("443", "pacs.lan"), ("80", "pacs.lan"), ("8443", "pacs.lan:8443")])
def test_a_default_port_is_not_added_to_the_host(make_policy: MakePolicy, port: str, host: str) -> None:
    headers = {"x-forwarded-host": "pacs.lan", "x-forwarded-port": port, "x-forwarded-proto": "https"}
    assert trust(make_policy, "127.0.0.1").resolve("127.0.0.1", "http", headers).host == host


def test_a_host_that_names_its_port_keeps_it(make_policy: MakePolicy) -> None:
    proxy = trust(make_policy, "127.0.0.1")
    assert proxy.resolve("127.0.0.1", "http", {"x-forwarded-host": "pacs.lan:9000",
                                               "x-forwarded-port": "8443"}).host == "pacs.lan:9000"
    assert proxy.resolve("127.0.0.1", "http", {"x-forwarded-host": "[2001:db8::1]",
                                               "x-forwarded-port": "8443"}).host == "[2001:db8::1]:8443"


def test_forwarded_wins_over_x_forwarded_and_its_first_element_counts(make_policy: MakePolicy) -> None:
    headers = {"forwarded": 'for="[2001:db8::7]";proto=https;host="pacs.lan", for=10.0.0.1;host=inner',
               "x-forwarded-for": "198.51.100.1", "x-forwarded-host": "ignored.example"}
    origin = trust(make_policy, "::1").resolve("::1", "http", headers)
    assert origin == Origin("2001:db8::7", "https", "pacs.lan")


def test_an_unknown_scheme_is_ignored(make_policy: MakePolicy) -> None:
    proxy = trust(make_policy, "127.0.0.1")
    assert proxy.resolve("127.0.0.1", "https", {"x-forwarded-proto": "javascript"}).scheme == "https"
    assert proxy.resolve("127.0.0.1", "http", {"forwarded": "proto=gopher"}).scheme == "http"


def test_a_unix_socket_peer_is_the_local_proxy_only_when_one_is_trusted(make_policy: MakePolicy) -> None:
    headers = {"x-forwarded-for": "192.0.2.7"}
    assert trust(make_policy, "127.0.0.1").resolve("", "http", headers).client == "192.0.2.7"
    assert trust(make_policy).resolve("", "http", headers).client == ""
    assert not trust(make_policy, "127.0.0.1").trusts("not-an-address")


def test_public_url_fixes_the_urls_but_not_the_client(make_policy: MakePolicy) -> None:
    proxy = trust(make_policy, "127.0.0.1", public_url="https://slicer.hospital.lan/a/b/")
    origin = proxy.resolve("127.0.0.1", "http", {"x-forwarded-for": "192.0.2.7", "x-forwarded-host": "evil.example"})
    assert origin == Origin("192.0.2.7", "https", "slicer.hospital.lan", "/a/b")
    bare = trust(make_policy, public_url="https://slicer.hospital.lan").resolve("10.1.1.1", "http", {})
    assert bare.base_url == "https://slicer.hospital.lan"


def test_header_map_lower_cases_names_and_joins_repeats() -> None:
    raw = [(b"X-Forwarded-For", b"192.0.2.7"), (b"x-forwarded-for", b"10.0.0.1"), (b"Host", b"a")]
    assert header_map(raw) == {"x-forwarded-for": "192.0.2.7, 10.0.0.1", "host": "a"}


@pytest.mark.parametrize(("trusted", "client"), [([], "127.0.0.1"), (["127.0.0.1/32"], "192.0.2.7")])
async def test_the_audit_log_names_the_client_the_proxy_vouches_for(make_app: MakeApp, make_policy: MakePolicy,
                                                                    trusted: list[str], client: str) -> None:
    app, _ = make_app(make_policy(**{"server.trusted_proxies": trusted}))
    response = await app.test_client().put("/admin/features/exec", json={"enabled": False},
                                           headers={"X-Forwarded-For": "192.0.2.7"},
                                           scope_base={"client": ("127.0.0.1", 40000)})
    assert response.status_code == 200
    [act] = [r for r in services_of(app).audit.read() if r["event"] == "admin"]
    assert act["client"] == client
