"""/slicer/volumes, /volume (GET streams NRRD, POST uploads NRRD) and /volumeSelection.

`GET /volume?id=` takes a getNode pattern (name or id, wildcards); without one, the first scalar
volume. The documented curl example `curl http://localhost:2016/slicer/volume\\&id='MRHead'` sends
the path `/slicer/volume&id=MRHead`; like the original, that is the plain `/volume` request.
Voxels go out in their own type (the original cast everything but short and double to short).

`POST /volume?id=` accepts what the docs promise (uncompressed 3D little-endian short in LPS) and
every other integer and float type, 2D images, RAS space and CRLF headers; everything else is
refused with 400/413/415 before the scene is touched (`formats/nrrd.upload_header`, checked before any voxel
buffer is allocated; the body streams into that one buffer). The reply is valid JSON.
"""

from __future__ import annotations

import asyncio

import numpy as np
from quart import Blueprint, Response, jsonify

from ..auth.actions import requires
from ..engine.scene_api import VolumeUpload
from ..errors import BadRequest
from ..formats.nrrd import UploadHeader, header_complete, upload_header
from ..formats.voxels import VoxelLimits, VoxelSink
from ..limits import body_chunks, upload
from ..services import Services
from .nrrd_response import nrrd_response
from .params import arg, text

MAX_HEADER_BYTES = 64 << 10  # a NRRD header is a few hundred bytes; more is not a volume


async def read_upload(allow_compressed: bool, limits: VoxelLimits) -> tuple[np.ndarray, np.ndarray, int]:
    """Stream this request's NRRD body into one voxel buffer sized from the checked header.

    Nothing is allocated for voxels before the header passed `upload_header` (limits included), and
    the body is never held whole: peak memory is the voxels plus one chunk (half of what buffering
    the body and then copying it took).
    """
    head = bytearray()
    header: UploadHeader | None = None
    sink: VoxelSink | None = None
    async for chunk in body_chunks():
        if sink is None:
            head += chunk
            if not header_complete(head):
                if len(head) > MAX_HEADER_BYTES or (len(head) >= 7 and not head.startswith(b"NRRD000")):
                    upload_header(bytes(head[:MAX_HEADER_BYTES]), allow_compressed=allow_compressed, limits=limits)
                    raise BadRequest(f"the NRRD header is longer than {MAX_HEADER_BYTES} bytes")
                continue
            header = upload_header(bytes(head), allow_compressed=allow_compressed, limits=limits)
            sink = VoxelSink(header.expected, header.encoding, limits)
            chunk = bytes(head[header.data_offset:])
            head.clear()
        if sink.encoding == "raw":
            sink.write(chunk)  # a memcpy into the buffer: cheaper than a thread hop
        else:
            await asyncio.to_thread(sink.write, chunk)
    if sink is None or header is None:
        if not head:
            raise BadRequest("no data: POST a NRRD file as the request body")
        upload_header(bytes(head), allow_compressed=allow_compressed, limits=limits)  # names the problem
        raise BadRequest("the NRRD header is not terminated by a blank line")
    return header.array(sink.finish()), header.ijk_to_ras, header.dimension


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
        array, ijk_to_ras, dimension = await read_upload(
            bool(policy.limits.volume_upload_compressed),
            VoxelLimits(int(policy.limits.max_volume_bytes), int(policy.limits.max_compression_ratio)))
        node = await scene.put_volume(arg("id"), VolumeUpload(array, ijk_to_ras, dimension))
        return jsonify({"success": True, "status": "success", "id": node.id, "name": node.name})

    @bp.get("/volumeSelection")
    @requires("slicer_write")  # changes the active volume
    async def volume_selection() -> Response:
        node = await scene.select_volume((arg("cmd") or "next").lower())
        return text(f"Volume selected: {node.name} ({node.id})")
