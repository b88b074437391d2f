"""Who counts as a local caller for the operations endpoints (/livez, /readyz, /metrics).

Local means: the socket peer is loopback (or the Unix socket only the proxy's group can reach), and
the request was not forwarded on behalf of someone else, unless a trusted proxy says that someone
is itself on loopback. A public request that came through the bundled proxy carries
X-Forwarded-For/Forwarded with the real client, so it is never local, even if the proxy
configuration forgot to refuse these paths.
"""

from __future__ import annotations

from .asgi_types import HeaderMap
from .forwarded import ProxyTrust
from .policy import is_loopback

_FORWARDING_HEADERS = ("forwarded", "x-forwarded-for")


def _local_address(address: str) -> bool:
    return address == "" or address.startswith("unix") or is_loopback(address)


def is_local_caller(peer: str, headers: HeaderMap, trust: ProxyTrust, scheme: str = "http") -> bool:
    """True when the request comes from this host itself (loopback or the proxy's own checks)."""
    if not _local_address(peer):
        return False
    if not any(name in headers for name in _FORWARDING_HEADERS):
        return True
    if not trust.trusts(peer):
        return False  # forwarded by something we do not trust: its claim about the client is unknown
    return _local_address(trust.resolve(peer, scheme, headers).client)
