"""/slicer/segmentations (undocumented in the reference, used by the demos) and /segmentation as NRRD."""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from ..errors import NotFound
from ..services import Services
from .nrrd_response import nrrd_response
from .params import arg


def register(bp: Blueprint, services: Services) -> None:
    scene = services.engine.scene

    @bp.get("/segmentations")
    async def segmentations() -> Response:
        return jsonify({s.id: {"name": s.name, "segmentIDs": [seg.id for seg in s.segments]}
                        for s in await scene.segmentations()})

    @bp.get("/segmentation")
    async def segmentation() -> Response:
        """The labelmap of `segmentationID` (default: the first segmentation) as a NRRD file."""
        wanted = arg("segmentationID") or arg("id")
        for item in await scene.segmentations():
            if wanted in (None, item.id, item.name):
                return nrrd_response(item.labelmap, item.ijk_to_ras, item.name)
        raise NotFound(f"no segmentation '{wanted}' in the scene" if wanted else "no segmentation in the scene")
