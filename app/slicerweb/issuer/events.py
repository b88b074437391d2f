"""The issuer's security events, one JSON line each on its log (stderr): sign-ins, refusals, revocations.

Names and addresses only: never a password, code or token.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TextIO

_log = logging.getLogger("slicerweb.issuer.events")


def log_to(stream: TextIO) -> None:
    """Write the events to `stream` as bare JSON lines (only this logger: Hypercorn keeps its own)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    _log.addHandler(handler)
    _log.setLevel(logging.INFO)
    _log.propagate = False


def record(event: str, **fields: object) -> None:
    _log.info(json.dumps({"time": round(time.time(), 3), "event": event, **fields}, sort_keys=True))
