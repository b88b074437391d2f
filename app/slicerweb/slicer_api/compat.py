"""Compatibility routes outside `/slicer` that real clients call: slicerio's `DELETE /system`.

slicerio's `stop_server()` sends `DELETE /system` without the `/slicer` prefix (the original
server answered it from the static handler with an empty 404). Mounted as part of the `slicer`
family, so the same flag, guard (write scope) and audit apply.
"""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from ..services import Services


def create_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("slicer_compat", __name__)
    engine = services.engine

    @bp.delete("/system")
    async def shutdown() -> Response:
        await engine.system.request_shutdown()
        return jsonify({"success": True})

    return bp
