"""ResponseAborted: an answer that failed after its status line was sent, and was logged already.

A streamed answer (a WADO-RS study, a frame list) that fails half-way cannot change its status: the
only honest signal left is to end the connection before the body does, which raising does. The code
raising it has written the one log line (with the request id) and counted it; `ServerLogger` keeps
Hypercorn from logging it a second time as a traceback ("Error in ASGI Framework").
"""

from __future__ import annotations

import sys
from typing import Any

from hypercorn.logging import Logger


class ResponseAborted(Exception):
    """Raised from a response body to drop the connection; already logged and counted."""


class ServerLogger(Logger):
    """Hypercorn's logger, silent about ResponseAborted (everything else is logged as before)."""

    async def exception(self, message: str, *args: Any, **kwargs: Any) -> None:
        if isinstance(sys.exc_info()[1], ResponseAborted):
            return
        await super().exception(message, *args, **kwargs)
