"""Which files hold the audit log, and which instance wrote each record.

One host (no `index.url`): `<data_dir>/audit.jsonl`. Its processes (`serve --workers N`, the CLI)
append whole lines with O_APPEND, which a local file system makes atomic, so they share the file.

Several hosts (`index.url` set: the multi-host configuration, data directory on NFS): O_APPEND is not
atomic over NFS (each client computes the end of the file itself), so two hosts appending to one file
can overwrite each other's lines. Each host writes `<data_dir>/audit/<host>.jsonl` instead, shared by
its own processes as above, and readers (the admin console's audit view) merge every
`<data_dir>/audit/*.jsonl`, newest first. An explicit `audit.path` may contain `{host}` for the same
layout elsewhere (`/var/log/slicerweb/audit-{host}.jsonl`); without it, it names one file.

Every record carries `instance`: `<host>:<pid>`. The host name, not a policy key: every host reads
the same policy file, so an id set there would be the same on all of them (and would send them all to
one file again), while the host name is unique on the network by construction; the pid tells the
worker processes of one host apart and matches the journal (`journalctl _PID=...`).
"""

from __future__ import annotations

import glob
from pathlib import Path

from .audit import AuditLog
from .instance import host_name
from .policy import Policy, data_dir_of

HOST_MARK = "{host}"


def audit_pattern(policy: Policy) -> str:
    """The audit path as configured, `{host}` not yet filled in (see the module docstring)."""
    if policy.audit.path:
        return policy.audit.path
    data_dir = data_dir_of(policy)
    if policy.index.url:
        return str(data_dir / "audit" / f"{HOST_MARK}.jsonl")
    return str(data_dir / "audit.jsonl")


def open_audit_log(policy: Policy) -> AuditLog:
    """The audit log this process writes, and the files of the other hosts its readers merge."""
    pattern = audit_pattern(policy)
    path = Path(pattern.replace(HOST_MARK, host_name()))
    siblings = "*".join(map(glob.escape, pattern.split(HOST_MARK))) if HOST_MARK in pattern else None
    return AuditLog(path, siblings=siblings)
