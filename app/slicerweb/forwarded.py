"""Who is asking and which URL they used, honouring proxy headers only from trusted proxies.

`Forwarded` (RFC 7239) and `X-Forwarded-For/Proto/Host/Prefix` are read only when the direct peer
is in `server.trusted_proxies`; otherwise a client could forge its address or the URLs we hand out.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from .asgi_types import HeaderMap
from .policy import Policy


@dataclass(frozen=True)
class Origin:
    """The request as the client sent it: address, scheme, host[:port] and path prefix."""

    client: str
    scheme: str
    host: str
    prefix: str = ""

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}{self.prefix}"


class ProxyTrust:
    """Decides, once per request, the client's origin from socket facts and trusted headers."""

    def __init__(self, policy: Policy) -> None:
        self._networks = tuple(ipaddress.ip_network(p, strict=False) for p in policy.server.trusted_proxies)
        self._public_url = policy.server.public_url.rstrip("/")

    def trusts(self, peer: str) -> bool:
        if peer.startswith("unix") or peer == "":
            return bool(self._networks)  # a Unix socket peer is the local proxy, if any is trusted
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in net for net in self._networks)

    def resolve(self, peer: str, scheme: str, headers: HeaderMap) -> Origin:
        """The client's origin; headers only count when `peer` is a trusted proxy."""
        host = headers.get("host", "")
        origin = Origin(peer, scheme, host)
        if self.trusts(peer):
            origin = _from_headers(origin, headers)
        if self._public_url:
            scheme, _, rest = self._public_url.partition("://")
            host, slash, prefix = rest.partition("/")
            origin = Origin(origin.client, scheme, host, slash + prefix if slash else "")
        return origin


def _first(value: str) -> str:
    return value.split(",")[0].strip()


def _from_headers(origin: Origin, headers: HeaderMap) -> Origin:
    client, scheme, host, prefix = origin.client, origin.scheme, origin.host, origin.prefix
    forwarded = headers.get("forwarded")
    if forwarded:
        pairs = _parse_forwarded(_first_element(forwarded))
        client = pairs.get("for", client).strip("[]")
        scheme = pairs.get("proto", scheme)
        host = pairs.get("host", host)
    else:
        client = _first(headers.get("x-forwarded-for", "")) or client
        scheme = _first(headers.get("x-forwarded-proto", "")) or scheme
        host = _first(headers.get("x-forwarded-host", "")) or host
        port = _first(headers.get("x-forwarded-port", ""))
        if port and ":" not in host.rsplit("]", 1)[-1] and port not in ("80", "443"):
            host = f"{host}:{port}"
    prefix = _first(headers.get("x-forwarded-prefix", "")).rstrip("/") or prefix
    if scheme not in ("http", "https"):
        scheme = origin.scheme
    return Origin(client, scheme, host, prefix)


def _first_element(value: str) -> str:
    return value.split(",")[0]


def _parse_forwarded(element: str) -> dict[str, str]:
    """`for=192.0.2.60;proto=https;host="a.b"` -> {'for': '192.0.2.60', 'proto': 'https', 'host': 'a.b'}."""
    pairs: dict[str, str] = {}
    for part in element.split(";"):
        key, _, value = part.strip().partition("=")
        if key:
            pairs[key.lower()] = value.strip().strip('"')
    return pairs


def header_map(raw: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI header list -> {lower-case name: value} (later duplicates joined with ', ')."""
    out: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out
