"""/slicer/tracking: position the tracked cursor (`tracker` transform moving a `trackingDevice` cube).

Parameters, applied in this order to the current tracker matrix (identity at first):
  m  16 numbers, the 4x4 matrix in column-major order, as documented (translation is the last
     four numbers); the original used only the first 9 as a row-major rotation.
  q  quaternion w,x,y,z: replaces the rotation.
  p  position x,y,z (mm): replaces the translation.
"""

from __future__ import annotations

import numpy as np
from quart import Blueprint, Response

from ..auth.actions import requires
from ..errors import BadRequest
from ..services import Services
from .params import floats, text


def quaternion_matrix(w: float, x: float, y: float, z: float) -> np.ndarray:
    """3x3 rotation of a (normalized) quaternion."""
    norm = np.sqrt(w * w + x * x + y * y + z * z)
    if norm == 0:
        raise BadRequest("q must not be the zero quaternion")
    w, x, y, z = (v / norm for v in (w, x, y, z))
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def register(bp: Blueprint, services: Services) -> None:
    scene = services.engine.scene

    @bp.get("/tracking")
    @requires("slicer_write")
    async def tracking() -> Response:
        m, q, p = floats("m", 16), floats("q", 4), floats("p", 3)
        if m is None and q is None and p is None:
            raise BadRequest("give at least one of m (16 numbers), q (w,x,y,z) or p (x,y,z)")
        matrix = np.array(await scene.tracker(), dtype=np.float64)
        if m is not None:
            matrix = np.array(m, dtype=np.float64).reshape(4, 4).T
        if q is not None:
            matrix[:3, :3] = quaternion_matrix(*q)
        if p is not None:
            matrix[:3, 3] = p
        await scene.set_tracker(matrix)
        return text("Set matrix")

