"""The headless in-process scene (skeleton; completed by the Slicer-API work)."""

from __future__ import annotations

import asyncio
from typing import Any

from ..scene_api import RenderInputs
from .render import HeadlessRendering, HeadlessViews


class HeadlessScene(HeadlessRendering):
    """In-process scene."""

    def __init__(self) -> None:
        self.views = HeadlessViews()

    async def render_inputs(self) -> RenderInputs:
        """What the views show (skeleton: nothing yet)."""
        return RenderInputs(None, (), (), (), ())

    async def execute(self, source: str) -> dict[str, Any]:
        """Run `source` in a worker thread (a long script never blocks other requests)."""

        def run() -> dict[str, Any]:
            namespace: dict[str, Any] = {"__execResult": {}, "scene": self}
            exec(compile(source, "<slicerweb exec>", "exec"), namespace)
            return namespace["__execResult"]

        return await asyncio.to_thread(run)
