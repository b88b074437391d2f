"""Which instance this process is: `<host>:<pid>`, as audit records name their writer (audit_files.py says why).

    >>> instance_id().endswith(f":{os.getpid()}")
    True
"""

from __future__ import annotations

import functools
import os
import re
import socket

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@functools.cache  # read once: the audit file named after it is chosen at start-up too
def host_name() -> str:
    """This host's name, safe as a file name (the kernel's host name may hold any byte but NUL)."""
    name = _UNSAFE.sub("_", socket.gethostname()).lstrip(".")
    return name or "host"


def instance_id() -> str:
    """`<host>:<pid>`, read at each call: a worker forked after start-up has its own pid."""
    return f"{host_name()}:{os.getpid()}"
