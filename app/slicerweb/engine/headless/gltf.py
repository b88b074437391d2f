"""glTF 2.0 export of the 3D scene (`/slicer/threeDGraphics`, for the threejs and model-viewer demos).

What Slicer's vtkGLTFExporter writes for the 3D view, built from the headless scene: models as
triangle meshes with normals, each markups control point as a small sphere in the markups colour,
and each volume's voxel box as lines (when `box_visible`). One buffer, inlined as a base64 data URI.

Coordinates stay in RAS millimetres under one root node whose matrix turns RAS into glTF's Y-up
frame (glTF +X = patient Left, +Y = Superior, +Z = Anterior), so viewers show the patient upright
and facing the camera.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FLOAT, UINT32 = 5126, 5125
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
LINES, TRIANGLES = 1, 4
# Column-major RAS -> glTF (x = -R, y = S, z = A).
RAS_TO_GLTF = [-1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
BOX_EDGES = [(a, a | bit) for a in range(8) for bit in (1, 2, 4) if a | bit != a]


@dataclass(frozen=True)
class Mesh:
    """A triangle mesh in RAS: vertices (n, 3), triangles (m, 3) indices, colour 0..1."""

    name: str
    vertices: np.ndarray
    triangles: np.ndarray
    colour: tuple[float, float, float]


@dataclass(frozen=True)
class PointSet:
    """A markups node: control points (n, 3) RAS with their labels, in one colour."""

    name: str
    points: np.ndarray
    labels: Sequence[str]
    colour: tuple[float, float, float]


@dataclass
class _Builder:
    blob: bytearray = field(default_factory=bytearray)
    document: dict[str, Any] = field(default_factory=lambda: {
        "asset": {"version": "2.0", "generator": "SlicerWeb headless engine"},
        "scene": 0, "scenes": [{"name": "3D view", "nodes": [0]}],
        "nodes": [{"name": "RAS", "matrix": RAS_TO_GLTF, "children": []}],
        "meshes": [], "materials": [], "accessors": [], "bufferViews": [], "buffers": [],
    })

    def accessor(self, data: np.ndarray, kind: str, target: int) -> int:
        component = UINT32 if data.dtype == np.uint32 else FLOAT
        raw = np.ascontiguousarray(data).tobytes()
        self.blob.extend(b"\0" * (-len(self.blob) % 4))
        view = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": len(raw), "target": target}
        self.blob.extend(raw)
        self.document["bufferViews"].append(view)
        accessor: dict[str, Any] = {"bufferView": len(self.document["bufferViews"]) - 1, "componentType": component,
                                    "count": int(data.shape[0]) if kind == "VEC3" else int(data.size), "type": kind}
        if kind == "VEC3" and target == ARRAY_BUFFER:
            accessor["min"] = data.min(axis=0).astype(float).tolist()
            accessor["max"] = data.max(axis=0).astype(float).tolist()
        self.document["accessors"].append(accessor)
        return len(self.document["accessors"]) - 1

    def material(self, name: str, colour: tuple[float, float, float], lit: bool = True) -> int:
        material: dict[str, Any] = {"name": name, "pbrMetallicRoughness": {
            "baseColorFactor": [*map(float, colour), 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.8}}
        if not lit:
            material["extensions"] = {"KHR_materials_unlit": {}}
            self.document.setdefault("extensionsUsed", ["KHR_materials_unlit"])
        self.document["materials"].append(material)
        return len(self.document["materials"]) - 1

    def mesh(self, name: str, vertices: np.ndarray, indices: np.ndarray, material: int, mode: int,
             normals: np.ndarray | None = None) -> int:
        attributes = {"POSITION": self.accessor(vertices.astype(np.float32), "VEC3", ARRAY_BUFFER)}
        if normals is not None:
            attributes["NORMAL"] = self.accessor(normals.astype(np.float32), "VEC3", ARRAY_BUFFER)
        primitive = {"attributes": attributes, "mode": mode, "material": material,
                     "indices": self.accessor(indices.astype(np.uint32).ravel(), "SCALAR", ELEMENT_ARRAY_BUFFER)}
        self.document["meshes"].append({"name": name, "primitives": [primitive]})
        return len(self.document["meshes"]) - 1

    def node(self, node: dict[str, Any]) -> None:
        self.document["nodes"].append(node)
        self.document["nodes"][0]["children"].append(len(self.document["nodes"]) - 1)

    def finish(self) -> dict[str, Any]:
        uri = "data:application/octet-stream;base64," + base64.b64encode(bytes(self.blob)).decode("ascii")
        self.document["buffers"].append({"byteLength": len(self.blob), "uri": uri})
        if not self.blob:  # glTF forbids zero-length buffers and views: an empty scene has none
            self.document["buffers"].clear()
        return self.document


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals (unit length; zero for unused vertices)."""
    v = vertices.astype(np.float64)
    faces = v[triangles]
    face_normals = np.cross(faces[:, 1] - faces[:, 0], faces[:, 2] - faces[:, 0])
    normals = np.zeros_like(v)
    for corner in range(3):
        np.add.at(normals, triangles[:, corner], face_normals)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    unit: np.ndarray = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    return unit


def uv_sphere(radius: float, rings: int = 8, segments: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """A sphere centred on the origin: (vertices, triangles)."""
    theta = np.linspace(0, np.pi, rings + 1)[:, None]
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)[None, :]
    grid = np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi),
                     np.cos(theta) * np.ones_like(phi)], axis=2).reshape(-1, 3)
    triangles = []
    for r in range(rings):
        for s in range(segments):
            a, b = r * segments + s, r * segments + (s + 1) % segments
            c, d = a + segments, b + segments
            triangles += [(a, c, b), (b, c, d)]
    return grid * radius, np.array(triangles, dtype=np.uint32)


def export_scene(meshes: Sequence[Mesh], point_sets: Sequence[PointSet], boxes: Sequence[tuple[str, np.ndarray]],
                 box_visible: bool) -> dict[str, Any]:
    """The glTF document (a JSON-able dict) of models, markups and (when `box_visible`) volume boxes."""
    builder = _Builder()
    for mesh in meshes:
        material = builder.material(mesh.name, mesh.colour)
        index = builder.mesh(mesh.name, mesh.vertices, mesh.triangles, material, TRIANGLES,
                             vertex_normals(mesh.vertices, mesh.triangles))
        builder.node({"name": mesh.name, "mesh": index})
    everything = [m.vertices for m in meshes] + [p.points for p in point_sets] + [b for _, b in boxes]
    extent = np.ptp(np.concatenate(everything), axis=0).max() if any(len(e) for e in everything) else 100.0
    sphere, sphere_triangles = uv_sphere(max(1.0, float(extent) / 100))
    sphere_normals = vertex_normals(sphere, sphere_triangles)
    for point_set in point_sets:
        if not len(point_set.points):
            continue
        material = builder.material(point_set.name, point_set.colour)
        index = builder.mesh(point_set.name, sphere, sphere_triangles, material, TRIANGLES, sphere_normals)
        for point, label in zip(point_set.points, point_set.labels, strict=True):
            builder.node({"name": label, "mesh": index, "translation": [float(c) for c in point],
                          "extras": {"markupsNode": point_set.name}})
    if box_visible:
        for name, corners in boxes:
            material = builder.material(f"{name} box", (0.9, 0.9, 0.9), lit=False)
            index = builder.mesh(f"{name} box", corners, np.array(BOX_EDGES, dtype=np.uint32), material, LINES)
            builder.node({"name": f"{name} box", "mesh": index})
    return builder.finish()
