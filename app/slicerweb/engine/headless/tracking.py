"""The `/tracking` cursor: a `tracker` linear transform moving a `trackingDevice` cube model.

As in the WebServer module, the first use creates a yellow 30 x 70 x 5 mm box model under a
linear transform named `tracker`; later calls only change the transform (found again by name, so
deleting either node simply recreates it).
"""

from __future__ import annotations

import numpy as np

from .nodes import LinearTransformNode, ModelNode, frozen_array
from .store import SceneStore

TRACKER_NAME = "tracker"
DEVICE_NAME = "trackingDevice"


def cube(size: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Points (8, 3) and triangles (12, 3) of a box centred on the origin."""
    half = np.asarray(size, dtype=np.float64) / 2
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64) * half
    faces = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    triangles = np.array([tri for a, b, c, d in faces for tri in ((a, b, c), (a, c, d))], dtype=np.int32)
    return corners, triangles


def set_tracker(store: SceneStore, matrix: np.ndarray) -> None:
    """Set the tracker's to-parent matrix, creating the transform and cube on first use."""
    matrix = frozen_array(np.asarray(matrix, dtype=np.float64).reshape(4, 4))
    with store.transaction():
        nodes = store.nodes()
        tracker = next((n for n in nodes if isinstance(n, LinearTransformNode) and n.name == TRACKER_NAME), None)
        if tracker is None:
            tracker = store.add(LinearTransformNode, TRACKER_NAME, unique=False, matrix=matrix)
        else:
            tracker = store.replace(tracker, matrix=matrix)
        device = next((n for n in nodes if isinstance(n, ModelNode) and n.name == DEVICE_NAME), None)
        if device is None:
            points, triangles = cube((30.0, 70.0, 5.0))
            store.add(ModelNode, DEVICE_NAME, unique=False, points=frozen_array(points),
                      triangles=frozen_array(triangles), color=(1.0, 1.0, 0.0), transform_id=tracker.id)
        elif device.transform_id != tracker.id:
            store.replace(device, transform_id=tracker.id)
