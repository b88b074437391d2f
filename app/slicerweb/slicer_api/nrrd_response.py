"""Streamed NRRD responses (volumes, grid transforms, segmentations).

The voxel buffer is sent in 1 MiB slices straight from the scene's read-only array, so a large
volume is never copied into one response body, and `Content-Length` is known up front.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator

import numpy as np
from quart import Response

from ..formats.nrrd import iter_nrrd, nrrd_header


def nrrd_response(array: np.ndarray, ijk_to_ras: np.ndarray, name: str, dimension: int = 3,
                  component_kind: str | None = None) -> Response:
    header = nrrd_header(array, ijk_to_ras, dimension, component_kind=component_kind)
    chunks = iter_nrrd(array, ijk_to_ras, dimension, component_kind=component_kind)

    async def body(source: Iterator[bytes] = chunks) -> AsyncIterator[bytes]:
        for chunk in source:
            yield chunk

    response = Response(body(), content_type="application/octet-stream")
    response.headers["Content-Length"] = str(len(header) + array.size * array.dtype.itemsize)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "volume"
    response.headers["Content-Disposition"] = f'attachment; filename="{safe}.nrrd"'
    return response
