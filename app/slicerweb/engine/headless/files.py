"""Loading nodes from files and saving them, by Slicer file type (`VolumeFile`, `MarkupsFile`, ...).

`FileAccess` says which server directories a caller may read and write (None: anywhere); every
path, including a `.nhdr`'s detached data file, is resolved (symlinks followed) and checked before
it is opened. Parsing happens here, outside the store's lock; the store only receives finished
nodes. Writes are atomic (temporary file, then rename).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from ...formats.nrrd import read_nrrd, write_nrrd
from ...formats.voxels import DEFAULT_LIMITS, VoxelLimits
from ..errors import NotFound, Unsupported
from ..file_access import FileAccess, base_name
from .markups_io import markups_json, read_markups
from .nifti_io import read_nifti
from .nodes import (
    GridTransformNode,
    LinearTransformNode,
    MarkupsNode,
    Node,
    SegmentationNode,
    Storage,
    VolumeNode,
    frozen_array,
)
from .segmentation_io import read_segmentation, write_segmentation
from .store import SceneStore
from .transforms_io import read_grid, read_tfm, write_grid, write_tfm

FILE_TYPES = ("VolumeFile", "SegmentationFile", "MarkupsFile", "TransformFile")
TRUE = ("true", "1", "yes", "on")


def load(store: SceneStore, path: Path, filetype: str, properties: dict[str, str],
         access: FileAccess, limits: VoxelLimits = DEFAULT_LIMITS) -> list[Node]:
    """Read `path` as `filetype` and add the node(s) to the scene."""
    path = access.check(Path(path))
    if not path.is_file():
        raise NotFound(f"file not found: {path}")
    storage = Storage(str(path), filetype, tuple(sorted(properties.items())))
    name = properties.get("name") or base_name(path)
    lower = path.name.lower()
    if filetype == "VolumeFile":
        if lower.endswith((".nii", ".nii.gz")):
            voxels, ijk_to_ras, dimension = read_nifti(path)
        elif lower.endswith((".nrrd", ".nhdr")):
            image = read_nrrd(path, access.check, limits)
            voxels, ijk_to_ras, dimension = image.array, image.ijk_to_ras, image.dimension
        else:
            raise Unsupported(f"no volume reader for '{path.name}' (NRRD .nrrd/.nhdr and NIfTI .nii/.nii.gz)")
        if voxels.ndim != 3:
            raise Unsupported(f"{path.name}: multi-component volumes are not supported")
        labelmap = properties.get("labelmap", "").lower() in TRUE
        node = store.add(VolumeNode, name, array=frozen_array(voxels), ijk_to_ras=frozen_array(ijk_to_ras),
                         dimension=dimension, storage=storage,
                         class_name="vtkMRMLLabelMapVolumeNode" if labelmap else "vtkMRMLScalarVolumeNode")
        if properties.get("show", "true").lower() in TRUE and not labelmap:
            store.set_active_volume(node.id)
        return [node]
    if filetype == "SegmentationFile":
        if not lower.endswith((".nrrd", ".nhdr")):
            raise Unsupported(f"no segmentation reader for '{path.name}' (.seg.nrrd files are supported)")
        image, segments = read_segmentation(path, access.check, limits)
        return [store.add(SegmentationNode, name, labelmap=frozen_array(image.array),
                          ijk_to_ras=frozen_array(image.ijk_to_ras), segments=segments, storage=storage)]
    if filetype == "MarkupsFile":
        lists = read_markups(path)
        with store.transaction():
            return [store.add(MarkupsNode, properties.get("name") or item.name or base_name(path), points=item.points,
                              color=item.color, selected_color=item.selected_color, scale=item.scale, storage=storage)
                    for item in lists]
    if filetype == "TransformFile":
        if lower.endswith((".nrrd", ".nhdr")):
            grid = read_grid(path, access.check, limits)
            return [store.add(GridTransformNode, name, displacement=frozen_array(grid.array),
                              ijk_to_ras=frozen_array(grid.ijk_to_ras), storage=storage)]
        return [store.add(LinearTransformNode, name, matrix=frozen_array(read_tfm(path)), storage=storage)]
    raise Unsupported(f"file type '{filetype}' is not supported by the headless engine; "
                      f"supported: {', '.join(FILE_TYPES)}")


def reread(store: SceneStore, node: Node, access: FileAccess, limits: VoxelLimits = DEFAULT_LIMITS) -> Node | None:
    """Re-read a node from its storage file, keeping its id and name; None if it has no file."""
    if node.storage is None:
        return None
    path = access.check(Path(node.storage.path))
    scratch = SceneStore()
    loaded = load(scratch, path, node.storage.filetype, dict(node.storage.properties), access, limits)
    fresh = loaded[0]
    changes = {f: getattr(fresh, f) for f in fresh.__dataclass_fields__ if f not in ("id", "name", "storage")}
    return store.replace(node, **changes)


def save(node: Node, path: Path, properties: dict[str, str], access: FileAccess) -> None:
    """Write one node to `path` (format from the extension; `useCompression` for NRRD)."""
    path = access.check(Path(path))
    if not path.parent.is_dir():
        raise NotFound(f"directory does not exist: {path.parent}")
    compress = properties.get("useCompression", "true").strip().lower() in TRUE
    lower = path.name.lower()
    if isinstance(node, VolumeNode) and lower.endswith(".nrrd"):
        write_nrrd(path, node.array, node.ijk_to_ras, node.dimension, compress=compress)
    elif isinstance(node, SegmentationNode) and lower.endswith(".nrrd"):
        write_segmentation(path, node.labelmap, node.ijk_to_ras, node.segments, compress)
    elif isinstance(node, MarkupsNode) and lower.endswith(".json"):
        _write_text(path, markups_json(node.name, node.points, node.color, node.selected_color, node.scale))
    elif isinstance(node, LinearTransformNode) and lower.endswith((".tfm", ".txt")):
        write_tfm(path, np.asarray(node.matrix))
    elif isinstance(node, GridTransformNode) and lower.endswith(".nrrd"):
        write_grid(path, node.displacement, node.ijk_to_ras, compress)
    else:
        raise Unsupported(f"no writer for {node.class_name} to '{path.name}' "
                          "(volumes/segmentations/grids: .nrrd, markups: .mrk.json, linear transforms: .tfm)")


def _write_text(path: Path, text: str) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise

