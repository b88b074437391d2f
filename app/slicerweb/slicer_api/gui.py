"""/slicer/gui: show the full application or viewers only, and set the view layout.

Any method, as the original (the docs say PUT and describe it, by a copy-paste slip, as
"Shutdown the application"); a GET changes state too, so it needs the write scope. The headless
engine records the state (it is what the renderer lays out); Slicer changes its main window.
"""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from ..auth.actions import requires
from ..services import Services
from .params import arg


def register(bp: Blueprint, services: Services) -> None:
    scene = services.engine.scene

    @bp.route("/gui", methods=["GET", "POST", "PUT", "DELETE"])
    @requires("slicer_write")
    async def gui() -> Response:
        state = await scene.set_gui(arg("contents"), arg("viewersLayout"))
        return jsonify({"success": True, "contents": state.contents, "viewersLayout": state.layout})
