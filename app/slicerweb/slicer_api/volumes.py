"""/slicer/volumes, /volume (GET streams NRRD, POST uploads NRRD) and /volumeSelection.

`GET /volume?id=` takes a getNode pattern (name or id, wildcards); without one, the first scalar
volume. The documented curl example `curl http://localhost:2016/slicer/volume\\&id='MRHead'` sends
the path `/slicer/volume&id=MRHead`; like the original, that is the plain `/volume` request.
Voxels go out in their own type (the original cast everything but short and double to short).

`POST /volume?id=` accepts what the docs promise (uncompressed 3D little-endian short in LPS) and
every other integer and float type, 2D images, RAS space and CRLF headers; everything else is
refused with 400/415 before the scene is touched (`nrrd_io.parse_upload`). The reply is valid JSON.
"""

from __future__ import annotations

import asyncio

from quart import Blueprint, Response, jsonify, request

from ..auth.actions import requires
from ..engine.headless.nrrd_io import parse_upload
from ..engine.scene_api import VolumeUpload
from ..errors import BadRequest
from ..limits import upload
from ..services import Services
from .nrrd_response import nrrd_response
from .params import arg, text


def register(bp: Blueprint, services: Services) -> None:
    scene = services.engine.scene
    policy = services.policy

    @bp.get("/volumes")
    async def volumes() -> Response:
        return jsonify([{"name": n.name, "id": n.id} for n in await scene.volumes()])

    @bp.get("/volume")
    @bp.get("/volume&<path:ignored>")
    async def volume_get(ignored: str = "") -> Response:
        volume = await scene.volume(None if ignored else arg("id"))
        # A vector volume (Slicer engine) is [k, j, i, component]: a 4-D NRRD whose first axis has kind "vector".
        return nrrd_response(volume.array, volume.ijk_to_ras, volume.name, volume.dimension,
                             component_kind="vector" if volume.array.ndim == 4 else None)

    @bp.route("/volume", methods=["POST", "PUT"])
    @upload
    async def volume_post() -> Response:
        body = await request.get_data(cache=False)
        if not body:
            raise BadRequest("no data: POST a NRRD file as the request body")
        array, ijk_to_ras, dimension = await asyncio.to_thread(
            parse_upload, body, allow_compressed=bool(policy.limits.volume_upload_compressed))
        node = await scene.put_volume(arg("id"), VolumeUpload(array, ijk_to_ras, dimension))
        return jsonify({"success": True, "status": "success", "id": node.id, "name": node.name})

    @bp.get("/volumeSelection")
    @requires("slicer_write")  # changes the active volume
    async def volume_selection() -> Response:
        node = await scene.select_volume((arg("cmd") or "next").lower())
        return text(f"Volume selected: {node.name} ({node.id})")
