"""Markups files: Slicer's `.mrk.json` (schema v1.0.x) read and write, and legacy `.fcsv` read.

Files keep positions in LPS (Slicer's default since 4.11, `"coordinateSystem": "LPS"`); the scene
keeps RAS. A point list in JSON:

    {"@schema": ".../markups-schema-v1.0.3.json#", "markups": [{"type": "Fiducial",
      "coordinateSystem": "LPS", "controlPoints": [{"label": "F-1", "position": [35.4, -13.1, -10.2]}],
      "display": {"selectedColor": [1.0, 0.5, 0.5], "glyphScale": 3.0}}]}
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Invalid, Unsupported
from ..scene_api import ControlPoint

SCHEMA = ("https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/"
          "Schema/markups-schema-v1.0.3.json#")
DEFAULT_COLOR = (0.4, 1.0, 1.0)
DEFAULT_SELECTED = (1.0, 0.5000076295109483, 0.5000076295109483)


@dataclass(frozen=True)
class PointList:
    """One point list as read from a file (positions already in RAS)."""

    name: str | None
    points: tuple[ControlPoint, ...]
    color: tuple[float, float, float] = DEFAULT_COLOR
    selected_color: tuple[float, float, float] = DEFAULT_SELECTED
    scale: float = 3.0


def _to_ras(position: Any, system: str) -> tuple[float, float, float]:
    try:
        x, y, z = (float(v) for v in position)
    except (TypeError, ValueError):
        raise Invalid(f"control point position {position!r} is not three numbers") from None
    return (-x, -y, z) if system.upper() == "LPS" else (x, y, z)


def _color(value: Any, default: tuple[float, float, float]) -> tuple[float, float, float]:
    try:
        r, g, b = (float(v) for v in value)
        return (r, g, b)
    except (TypeError, ValueError):
        return default


def read_markups(path: Path) -> list[PointList]:
    """Point lists in a `.mrk.json` or `.fcsv` file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Invalid(f"{path.name}: cannot read markups file: {exc}") from None
    if path.name.lower().endswith(".fcsv"):
        return [_read_fcsv(text)]
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Invalid(f"{path.name}: not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("markups"), list):
        raise Invalid(f"{path.name}: not a Slicer markups file (no 'markups' list)")
    lists = []
    for entry in document["markups"]:
        if not isinstance(entry, dict):
            raise Invalid(f"{path.name}: each markups entry must be an object")
        kind = entry.get("type", "Fiducial")
        if kind != "Fiducial":
            raise Unsupported(f"{path.name}: markups type '{kind}' is not supported (point lists only)")
        system = str(entry.get("coordinateSystem", "LPS"))
        points = []
        for number, point in enumerate(entry.get("controlPoints") or [], 1):
            if not isinstance(point, dict) or "position" not in point:
                raise Invalid(f"{path.name}: control point {number} has no position")
            points.append(ControlPoint(str(point.get("label", f"F-{number}")),
                                       _to_ras(point["position"], system),
                                       bool(point.get("selected", True)), bool(point.get("visibility", True))))
        given = entry.get("display")
        display = given if isinstance(given, dict) else {}
        lists.append(PointList(entry.get("name"), tuple(points), _color(display.get("color"), DEFAULT_COLOR),
                               _color(display.get("selectedColor"), DEFAULT_SELECTED),
                               float(display.get("glyphScale", 3.0))))
    return lists


def _read_fcsv(text: str) -> PointList:
    system = "RAS"
    rows = []
    for line in text.splitlines():
        if line.startswith("#"):
            if "CoordinateSystem" in line:
                value = line.split("=", 1)[1].strip()
                system = "LPS" if value in ("LPS", "1") else "RAS"
            continue
        if line.strip():
            rows.append(line)
    points = []
    for number, row in enumerate(csv.reader(io.StringIO("\n".join(rows))), 1):
        if len(row) < 4:
            raise Invalid(f"fcsv row {number} has fewer than 4 columns")
        label = row[11] if len(row) > 11 else f"F-{number}"
        points.append(ControlPoint(label, _to_ras(row[1:4], system)))
    return PointList(None, tuple(points))


def markups_json(name: str, points: tuple[ControlPoint, ...], color: tuple[float, float, float],
                 selected_color: tuple[float, float, float], scale: float) -> str:
    """A `.mrk.json` document for one point list (LPS, as Slicer writes)."""
    control_points = [{
        "id": str(number), "label": point.label, "description": "", "associatedNodeID": "",
        "position": [-point.position[0] + 0.0, -point.position[1] + 0.0, point.position[2]],
        "orientation": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0],
        "selected": point.selected, "locked": False, "visibility": point.visible, "positionStatus": "defined",
    } for number, point in enumerate(points, 1)]
    document = {"@schema": SCHEMA, "markups": [{
        "type": "Fiducial", "name": name, "coordinateSystem": "LPS", "coordinateUnits": "mm",
        "locked": False, "fixedNumberOfControlPoints": False, "labelFormat": "%N-%d",
        "lastUsedControlPointNumber": len(points), "controlPoints": control_points, "measurements": [],
        "display": {"visibility": True, "opacity": 1.0, "color": list(color), "selectedColor": list(selected_color),
                    "glyphScale": scale, "glyphSize": 5.0, "useGlyphScale": True},
    }]}
    return json.dumps(document, indent=2)
