"""The issuer's security events, one JSON line each on its log (stderr): sign-ins, refusals, revocations.

Names and addresses only: never a password, code or token.
"""

from __future__ import annotations

import json
import logging
import time

_log = logging.getLogger("slicerweb.issuer.events")


def record(event: str, **fields: object) -> None:
    _log.warning(json.dumps({"time": round(time.time(), 3), "event": event, **fields}, sort_keys=True))
