"""The headless in-process scene (skeleton; completed by the Slicer-API work)."""

from __future__ import annotations

import asyncio
from typing import Any


class HeadlessScene:
    """In-process scene."""

    async def execute(self, source: str) -> dict[str, Any]:
        """Run `source` in a worker thread (a long script never blocks other requests)."""

        def run() -> dict[str, Any]:
            namespace: dict[str, Any] = {"__execResult": {}, "scene": self}
            exec(compile(source, "<slicerweb exec>", "exec"), namespace)
            return namespace["__execResult"]

        return await asyncio.to_thread(run)
