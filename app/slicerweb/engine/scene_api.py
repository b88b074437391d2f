"""SceneService: the MRML-style scene behind `/slicer` (nodes, volumes, rendering, exec).

Completed by the Slicer-API work; the skeleton holds what the foundation needs.
"""

from __future__ import annotations

from typing import Any, Protocol


class SceneService(Protocol):
    """Scene access; every mutation is serialized so no reader sees a half-updated node."""

    async def execute(self, source: str) -> dict[str, Any]:
        """Run Python `source` with the scene in scope; return its `__execResult` dict."""
        ...
