"""The proxies the stack tests run through: one pytest param per front, skipped where it is not installed
(nginx lives in /usr/sbin, which a non-root PATH lacks); and an HTTPS client of a running stack."""

from __future__ import annotations

import shutil
import ssl
from typing import Any

import httpx
import pytest

from slicerweb.devstack.stack import Stack

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROXIES = [pytest.param(name, marks=pytest.mark.skipif(shutil.which(name, path=SYSTEM_PATH) is None,
                                                       reason=f"{name} not installed"))
           for name in ("nginx", "caddy")]


def stack_client(stack: Stack, **kwargs: Any) -> httpx.Client:
    """An HTTPS client of `stack`'s public front that trusts the stack's CA (a 30 s timeout)."""
    return httpx.Client(base_url=stack.url, verify=ssl.create_default_context(cafile=str(stack.certs.ca_cert)),
                        timeout=30, **kwargs)
