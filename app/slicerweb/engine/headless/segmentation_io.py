"""Segmentation files: Slicer's `.seg.nrrd` (one labelmap layer, or several layers merged).

Segment metadata lives in NRRD key/value fields, as Slicer writes them:

    Segment0_ID:=Segment_1
    Segment0_Name:=liver
    Segment0_Color:=0.9 0.4 0.3
    Segment0_LabelValue:=1
    Segment0_Layer:=0

A plain labelmap file loaded as `SegmentationFile` gets one segment per label value.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...formats.nrrd import NrrdImage, read_nrrd, write_nrrd
from ...formats.voxels import DEFAULT_LIMITS, VoxelLimits
from ..errors import Invalid
from ..scene_api import Segment

PALETTE = ((0.5, 0.68, 0.5), (0.94, 0.84, 0.57), (0.69, 0.48, 0.4), (0.43, 0.72, 0.82), (0.87, 0.51, 0.39))


def read_segmentation(path: Path, check_path: Callable[[Path], None] | None = None,
                      limits: VoxelLimits = DEFAULT_LIMITS) -> tuple[NrrdImage, tuple[Segment, ...]]:
    """The labelmap `[k, j, i]` and its segments (layers merged; later layers do not overwrite)."""
    image = read_nrrd(path, check_path, limits)
    header = image.header
    array = image.array
    layers = array.shape[-1] if array.ndim == 4 else 1
    segments: list[Segment] = []
    index = 0
    while f"Segment{index}_ID" in header:
        prefix = f"Segment{index}_"
        try:
            color = tuple(float(v) for v in str(header.get(prefix + "Color", "0.5 0.5 0.5")).split())[:3]
            label = int(header.get(prefix + "LabelValue", index + 1))
            layer = int(header.get(prefix + "Layer", 0))
        except ValueError:
            raise Invalid(f"{Path(path).name}: segment {index} has malformed metadata") from None
        segments.append(Segment(str(header[prefix + "ID"]), str(header.get(prefix + "Name", header[prefix + "ID"])),
                                color if len(color) == 3 else (0.5, 0.5, 0.5), label + 1000 * layer))
        index += 1
    if layers > 1:
        merged = np.zeros(array.shape[:3], dtype=np.int32)
        for layer in range(layers):
            values = array[..., layer].astype(np.int32)
            merged = np.where((merged == 0) & (values != 0), values + 1000 * layer, merged)
        labelmap = merged
    else:
        labelmap = array
        if not segments:
            for number, value in enumerate(int(v) for v in np.unique(array) if v != 0):
                segments.append(Segment(f"Segment_{value}", f"Segment_{value}", PALETTE[number % len(PALETTE)],
                                        value))
    return NrrdImage(labelmap, image.ijk_to_ras, 3, header), tuple(segments)


def write_segmentation(path: Path, labelmap: np.ndarray, ijk_to_ras: np.ndarray,
                       segments: tuple[Segment, ...], compress: bool) -> None:
    """Write one labelmap layer with Slicer's segment fields."""
    fields = {"Segmentation_MasterRepresentation": "Binary labelmap",
              "Segmentation_ContainedRepresentationNames": "Binary labelmap|"}
    for index, segment in enumerate(segments):
        prefix = f"Segment{index}_"
        fields[prefix + "ID"] = segment.id
        fields[prefix + "Name"] = segment.name
        fields[prefix + "Color"] = " ".join(repr(c) for c in segment.color)
        fields[prefix + "LabelValue"] = str(segment.label_value)
        fields[prefix + "Layer"] = "0"
    write_nrrd(path, labelmap, ijk_to_ras, 3, compress=compress, fields=fields)
