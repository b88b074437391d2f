"""The proxies the stack tests run through: one pytest param per front, skipped where it is not installed
(nginx lives in /usr/sbin, which a non-root PATH lacks)."""

from __future__ import annotations

import shutil

import pytest

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROXIES = [pytest.param(name, marks=pytest.mark.skipif(shutil.which(name, path=SYSTEM_PATH) is None,
                                                       reason=f"{name} not installed"))
           for name in ("nginx", "caddy")]
