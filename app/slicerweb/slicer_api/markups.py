"""/slicer/fiducials (every point list) and /slicer/fiducial (move one control point).

`/fiducial` answers any method, as the original does (the docs say PUT); a GET is still a change,
so it needs the write scope. `index` (default 0) now works (the original passed it to VTK as text).
"""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from ..auth.actions import requires
from ..errors import BadRequest
from ..services import Services
from .params import arg, number


def register(bp: Blueprint, services: Services) -> None:
    scene = services.engine.scene

    @bp.get("/fiducials")
    async def fiducials() -> Response:
        return jsonify({m.id: {"name": m.name, "color": list(m.color), "scale": m.scale,
                               "markups": [{"label": p.label, "position": list(p.position)} for p in m.points]}
                        for m in await scene.fiducials()})

    @bp.route("/fiducial", methods=["GET", "POST", "PUT", "DELETE"])
    @requires("slicer_write")
    async def fiducial() -> Response:
        raw_index = arg("index") or "0"
        if not raw_index.isdigit():
            raise BadRequest(f"index must be a non-negative integer, got {raw_index!r}")
        position = (number("r", 0.0), number("a", 0.0), number("s", 0.0))
        await scene.set_control_point(arg("id"), int(raw_index), position)
        return jsonify({"success": True})
