"""/slicer/system: version (slicerio's liveness probe) and graceful shutdown."""

from __future__ import annotations

import dataclasses

from quart import Blueprint, Response, jsonify

from ..services import Services


def register(bp: Blueprint, services: Services) -> None:
    engine = services.engine

    @bp.get("/system/version")
    async def version() -> Response:
        return jsonify(dataclasses.asdict(await engine.system.version()))

    @bp.delete("/system")
    async def shutdown() -> Response:
        await engine.system.request_shutdown()
        return jsonify({"success": True})
