"""/slicer/gridtransforms and /gridtransform (both spellings: the docs' lower case, the code's `gridTransform`).

A grid transform goes out as a valid 4D NRRD: `kinds: vector domain domain domain`, a `none`
direction for the vector axis (the original omitted it), LPS vectors and geometry, float64.
"""

from __future__ import annotations

import numpy as np
from quart import Blueprint, Response, jsonify

from ..services import Services
from .nrrd_response import nrrd_response
from .params import arg


def register(bp: Blueprint, services: Services) -> None:
    scene = services.engine.scene

    @bp.get("/gridtransforms")
    @bp.get("/gridTransforms")
    async def grid_transforms() -> Response:
        return jsonify([{"name": n.name, "id": n.id} for n in await scene.grid_transforms()])

    @bp.get("/gridtransform")
    @bp.get("/gridTransform")
    async def grid_transform() -> Response:
        grid = await scene.grid_transform(arg("id"))
        lps = np.ascontiguousarray(grid.displacement * np.array([-1.0, -1.0, 1.0]))
        return nrrd_response(lps, grid.ijk_to_ras, grid.name, 3, component_kind="vector")
