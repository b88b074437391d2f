"""The OpenAPI 3.1 document of /slicer and /admin, built from the app's url_map and one table.

`OPERATIONS` maps each (method, Quart rule) of the `slicer` and `admin` blueprints to what the
url_map cannot say: a summary, the query parameters, the request body and the success media type.
`document(app)` walks the url_map, so a route that exists is in the document, and a route the table
does not describe is listed by `undescribed(app)` (tests/test_openapi.py fails on it). Every error
answer has the one JSON shape of `errors.py`, documented once as the `default` response.
Served at `GET /slicer/openapi.json` (slicer read scope, like the other /slicer reads).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from quart import Quart

from .version import __version__

DOCUMENTED_BLUEPRINTS = ("slicer", "admin")
IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
JSON = "application/json"

STRING: dict[str, Any] = {"type": "string"}
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
STRINGS: dict[str, Any] = {"type": "array", "items": STRING}
OBJECT: dict[str, Any] = {"type": "object"}
SUCCESS: dict[str, Any] = {"type": "object", "required": ["success"], "properties": {"success": {"type": "boolean"}}}
LOADED: dict[str, Any] = {"type": "object", "required": ["success", "loadedNodeIDs"],
                          "properties": {"success": {"const": True}, "loadedNodeIDs": STRINGS}}
NODES: dict[str, Any] = {"type": "array", "items": {"type": "object", "required": ["name", "id"],
                                                    "properties": {"name": STRING, "id": STRING}}}
FEATURE: dict[str, Any] = {"type": "object", "required": ["name", "enabled", "policy", "override"],
                           "properties": {"name": STRING, "enabled": {"type": "boolean"},
                                          "policy": {"type": "boolean"}, "override": {"type": ["object", "null"]}}}
CONSOLE_FEATURE: dict[str, Any] = {
    "type": "object", "required": ["name", "enabled", "policy", "override", "kind", "toggleable", "help"],
    "properties": {**FEATURE["properties"], "kind": {"enum": ["family", "feature"]}, "toggleable": {"type": "boolean"},
                   "help": STRING}}
AUDIT_ENTRY: dict[str, Any] = {"type": "object", "required": ["time", "event", "outcome"], "properties": {
    "time": STRING, "event": STRING, "subject": STRING, "instance": STRING,  # instance: "<host>:<pid>"
    "outcome": {"enum": ["ok", "denied", "error"]}}}
ERROR: dict[str, Any] = {
    "type": "object", "required": ["success", "message", "code"],
    "properties": {"success": {"const": False}, "message": STRING, "code": STRING, "request_id": STRING}}


@dataclass(frozen=True)
class Param:
    """One query (or path) parameter."""

    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: dict(STRING))
    required: bool = False
    where: str = "query"

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "in": self.where, "required": self.required or self.where == "path",
                "description": self.description, "schema": self.schema}


@dataclass(frozen=True)
class Operation:
    """What one route does, takes and answers (the url_map gives its path and method)."""

    summary: str
    params: tuple[Param, ...] = ()
    media_type: str = JSON
    schema: dict[str, Any] = field(default_factory=lambda: dict(OBJECT))
    body: tuple[str, dict[str, Any]] | None = None  # (media type, schema)
    body_required: bool = False


def _p(name: str, description: str, **kw: Any) -> Param:
    return Param(name, description, **kw)


SELECTION = (_p("id", "node id or getNode pattern"), _p("name", "node name"),
             _p("class", "MRML class (subclasses too)"))
NUMBER_LIST = {"type": "string", "pattern": r"^[-+0-9.eE, ]*$"}
SIZE = _p("size", "N (NxN) or WxH, each side 1..4096", schema={"type": "string", "pattern": r"^\d+(x\d+)?$"})
FEATURE_NAME = _p("name", "toggleable feature (static, dicomweb, slicer, dicomweb_write, exec)", where="path")
SUB = _p("sub", "sub-path: '', names, ids or properties", where="path")
PNG = ("image/png", BINARY)
NRRD = ("application/octet-stream", BINARY)
TEXT = ("text/plain", STRING)
ACCESS_DICOMWEB_KEYS = ("dicomWEBPrefix", "dicomWEBStore", "studyUID", "accessToken")
FILE_TYPES = "VolumeFile, SegmentationFile, MarkupsFile, TransformFile, ..."
LOAD = (_p("url", "http(s)://, file:// or slicer:// URL to load"), _p("localfile", "server path to load"),
        _p("filetype", f"Slicer file type ({FILE_TYPES})"), _p("seriesUID", "DICOM series to load"))


def _op(summary: str, params: tuple[Param, ...] = (), answer: tuple[str, dict[str, Any]] = (JSON, OBJECT),
        **kw: Any) -> Operation:
    return Operation(summary, params, answer[0], answer[1], **kw)


# (method, Quart rule) -> Operation. Aliases the original module answers (both spellings) are listed
# under each rule so the document shows every path a client may call.
OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/admin/features"): _op("List the runtime feature flags", answer=(JSON, {
        "type": "object", "required": ["features"], "properties": {"features": {"type": "array", "items": FEATURE}}})),
    ("GET", "/admin/features/<name>"): _op("One feature flag", (FEATURE_NAME,), (JSON, FEATURE)),
    ("PUT", "/admin/features/<name>"): _op(
        "Turn a feature on or off (audited; exec for at most the policy's minutes)", (FEATURE_NAME,), (JSON, FEATURE),
        body=(JSON, {"type": "object", "required": ["enabled"],
                     "properties": {"enabled": {"type": "boolean"}, "minutes": {"type": "number"}}}),
        body_required=True),
    ("DELETE", "/admin/features/<name>"): _op("Back to the policy's value (audited)", (FEATURE_NAME,), (JSON, FEATURE)),
    ("GET", "/admin/api/features"): _op(
        "The console's view: every [features] flag with its policy ceiling, runtime state and last change",
        answer=(JSON, {"type": "object", "required": ["features", "exec_toggle", "subject"], "properties": {
            "features": {"type": "array", "items": CONSOLE_FEATURE}, "subject": STRING,
            "exec_toggle": {"type": "object", "required": ["allowed", "max_minutes", "default_minutes"]}}})),
    ("PUT", "/admin/api/features/<name>"): _op(
        "Switch a feature with a required reason (audited with it); exec on needs minutes and the policy's "
        "features.exec_toggle (403 otherwise)", (FEATURE_NAME,), (JSON, FEATURE),
        body=(JSON, {"type": "object", "required": ["enabled", "reason"], "properties": {
            "enabled": {"type": "boolean"}, "minutes": {"type": "number"},
            "reason": {"type": "string", "minLength": 1, "maxLength": 500}}}), body_required=True),
    ("GET", "/admin/api/audit"): _op(
        "The audit log, newest first, filtered and paged (pass a page's next as before)",
        (_p("actor", "part of the subject, any case"), _p("action", "an event or its prefix: feature, exec.run"),
         _p("outcome", "ok, denied or error", schema={"enum": ["ok", "denied", "error"]}),
         _p("limit", "entries per page, 1..200 (default 50)", schema={"type": "string", "pattern": r"^\d{1,3}$"}),
         _p("before", "the next value of the previous page (one inode-offset per host's file)",
            schema={"type": "string", "pattern": r"^\d+-\d+(\.\d+-\d+)*$"})),
        (JSON, {"type": "object", "required": ["entries", "next", "scanned_bytes"], "properties": {
            "entries": {"type": "array", "items": AUDIT_ENTRY}, "next": {"type": ["string", "null"]},
            "scanned_bytes": {"type": "integer"}}})),
    ("POST", "/admin/api/dicom/check"): _op(
        "Compare the DICOM index with the stored files; repair re-indexes orphans and drops rows of missing "
        "files (audited)", answer=(JSON, {"type": "object", "required": ["counts", "damaged", "examples"]}),
        body=(JSON, {"type": "object", "properties": {"repair": {"type": "boolean"},
                                                      "examples": {"type": "integer", "minimum": 0,
                                                                   "maximum": 1000}}})),
    ("GET", "/slicer/system/version"): _op("Application and engine version (slicerio's liveness probe)", answer=(JSON, {
        "type": "object", "required": ["applicationName"], "properties": {"applicationName": STRING}})),
    ("DELETE", "/slicer/system"): _op("Shut the application down gracefully", answer=(JSON, SUCCESS)),
    ("GET", "/slicer/exec"): _op("Run Python (source in the body; ?source= only if the policy allows)",
                                 (_p("source", "Python source (refused unless features.exec_get_source)"),)),
    ("POST", "/slicer/exec"): _op("Run Python with the scene in scope; __execResult comes back as JSON",
                                  body=("text/plain", STRING)),
    ("PUT", "/slicer/exec"): _op("Run Python (as POST)", body=("text/plain", STRING)),
    ("GET", "/slicer/mrml"): _op("Names of the selected nodes", SELECTION, (JSON, STRINGS)),
    ("GET", "/slicer/mrml/<path:sub>"): _op("Names, ids or properties of the selected nodes", (SUB, *SELECTION),
                                            (JSON, {"type": ["array", "object"]})),
    ("GET", "/slicer/mrml/file"): _op("Save nodes to a server file (file roots apply; audited)",
                                      (*SELECTION, _p("url", "file:// URL to write"),
                                       _p("localfile", "server path to write")), (JSON, SUCCESS)),
    ("POST", "/slicer/mrml"): _op("Load a file, URL or DICOM series into the scene", LOAD, (JSON, LOADED)),
    ("POST", "/slicer/mrml/<path:sub>"): _op("Load (any sub-path, as slicerio sends)", (SUB, *LOAD), (JSON, LOADED)),
    ("PUT", "/slicer/mrml"): _op("Reload the selected nodes from their files", SELECTION, (JSON, SUCCESS)),
    ("PUT", "/slicer/mrml/<path:sub>"): _op("Reload (any sub-path)", (SUB, *SELECTION), (JSON, SUCCESS)),
    ("DELETE", "/slicer/mrml"): _op("Remove the selected nodes (no selection: clear the scene)", SELECTION,
                                    (JSON, SUCCESS)),
    ("DELETE", "/slicer/mrml/<path:sub>"): _op("Remove (any sub-path)", (SUB, *SELECTION), (JSON, SUCCESS)),
    ("POST", "/slicer/open"): _op("Open a slicer:// URL (slicerio's file_load)",
                                  (_p("url", "slicer:// URL", required=True),), (JSON, LOADED)),
    ("GET", "/slicer/volumes"): _op("Scalar volumes in the scene", answer=(JSON, NODES)),
    ("GET", "/slicer/volume"): _op("A volume as NRRD (default: the first one)", (SELECTION[0],), NRRD),
    ("GET", "/slicer/volume&<path:ignored>"): _op(
        "The documented curl spelling /volume&id=X (same as GET /volume)",
        (_p("ignored", "the rest of the mistyped query", where="path"),), NRRD),
    ("POST", "/slicer/volume"): _op("Upload a NRRD volume (new node, or replace ?id=)", (SELECTION[0],),
                                    (JSON, SUCCESS), body=NRRD, body_required=True),
    ("PUT", "/slicer/volume"): _op("Upload a NRRD volume (as POST)", (SELECTION[0],), (JSON, SUCCESS), body=NRRD,
                                   body_required=True),
    ("GET", "/slicer/volumeSelection"): _op("Select the next or previous volume",
                                            (_p("cmd", "next or previous", schema={"enum": ["next", "previous"]}),),
                                            TEXT),
    ("GET", "/slicer/gridTransforms"): _op("Grid transforms in the scene", answer=(JSON, NODES)),
    ("GET", "/slicer/gridtransforms"): _op("Grid transforms (the docs' spelling)", answer=(JSON, NODES)),
    ("GET", "/slicer/gridTransform"): _op("A grid transform as a 4D NRRD", (SELECTION[0],), NRRD),
    ("GET", "/slicer/gridtransform"): _op("A grid transform (the docs' spelling)", (SELECTION[0],), NRRD),
    ("GET", "/slicer/fiducials"): _op("Every markups point list", answer=(JSON, OBJECT)),
    **{(method, "/slicer/fiducial"): _op(
        "Move one control point (any method, as the original)",
        (SELECTION[0], _p("index", "control point index", schema={"type": "string", "pattern": r"^\d+$"}),
         *(_p(axis, f"{axis} coordinate (mm)", schema=NUMBER_LIST) for axis in "ras")), (JSON, SUCCESS))
       for method in ("GET", "POST", "PUT", "DELETE")},
    ("GET", "/slicer/segmentations"): _op("Segmentations and their segment ids", answer=(JSON, OBJECT)),
    ("GET", "/slicer/segmentation"): _op("A segmentation's labelmap as NRRD",
                                         (_p("segmentationID", "segmentation id or name"), SELECTION[0]), NRRD),
    ("GET", "/slicer/sampledata"): _op("Load a sample data set by name", (_p("name", "e.g. MRHead", required=True),),
                                       TEXT),
    ("GET", "/slicer/tracking"): _op("Position the tracked cursor",
                                     tuple(_p(n, d, schema=NUMBER_LIST) for n, d in (
                                         ("m", "16 numbers, 4x4 column-major"), ("q", "quaternion w,x,y,z"),
                                         ("p", "position x,y,z (mm)"))), TEXT),
    **{(method, "/slicer/gui"): _op("Show the full application or viewers only; set the layout",
                                    (_p("contents", "full or viewers"), _p("viewersLayout", "layout name")),
                                    (JSON, SUCCESS))
       for method in ("GET", "POST", "PUT", "DELETE")},
    ("POST", "/slicer/accessDICOMwebStudy"): _op(
        "Fetch a study from a DICOMweb server (url_load_prefixes apply) and load it", answer=(JSON, LOADED),
        body=(JSON, {"type": "object", "required": ["dicomWEBPrefix", "studyUID"],
                     "properties": {k: STRING for k in ACCESS_DICOMWEB_KEYS}}),
        body_required=True),
    ("GET", "/slicer/slice"): _op("A slice view as PNG", (
        _p("view", "red, yellow or green"), _p("orientation", "axial, sagittal or coronal"),
        _p("scrollTo", "0..1", schema=NUMBER_LIST), _p("offset", "mm", schema=NUMBER_LIST),
        _p("copySliceGeometryFrom", "another slice view"), SIZE, _p("window", "window width", schema=NUMBER_LIST),
        _p("level", "window level", schema=NUMBER_LIST), _p("volume", "volume id or name"), SELECTION[0],
        _p("interpolation", "linear or nearest"), _p("labels", "true or false")), PNG),
    ("GET", "/slicer/threeD"): _op("The 3D view as PNG", (
        _p("lookFromAxis", "L, R, A, P, S or I"), SIZE, _p("rendering", "mip or composite")), PNG),
    ("GET", "/slicer/screenshot"): _op("The whole layout as PNG", answer=PNG),
    ("GET", "/slicer/threeDGraphics"): _op("The 3D scene as glTF JSON", (
        _p("widgetIndex", "3D view index", schema={"type": "string", "pattern": r"^\d+$"}),
        _p("format", "gltf"), _p("boxVisible", "true or false")), (JSON, OBJECT)),
    ("GET", "/slicer/timeimage"): _op("The current time as a PNG (latency checks)",
                                      (_p("color", "3 or 6 hex digits"),), PNG),
    ("GET", "/slicer/openapi.json"): _op("This document", answer=(JSON, OBJECT)),
}


def routes(app: Quart) -> list[tuple[str, str]]:
    """(method, rule) of every documented-family route in the app, in url_map order."""
    found: list[tuple[str, str]] = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".", 1)[0] not in DOCUMENTED_BLUEPRINTS:
            continue
        found += [(method, rule.rule) for method in sorted((rule.methods or set()) - IGNORED_METHODS)]
    return found


def undescribed(app: Quart) -> list[tuple[str, str]]:
    """Routes the table does not describe (the sync test requires none)."""
    return [route for route in routes(app) if route not in OPERATIONS]


def openapi_path(rule: str) -> str:
    """Quart rule -> OpenAPI path: `/mrml/<path:sub>` -> `/mrml/{sub}`."""
    return re.sub(r"<(?:[a-z]+:)?([A-Za-z_]\w*)>", r"{\1}", rule)


def _operation_id(method: str, rule: str) -> str:
    return method.lower() + "_" + re.sub(r"\W+", "_", openapi_path(rule)).strip("_")


def _operation(method: str, rule: str, op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": _operation_id(method, rule), "summary": op.summary,
        "parameters": [p.as_json() for p in op.params],
        "responses": {"200": {"description": op.summary, "content": {op.media_type: {"schema": op.schema}}},
                      "default": {"description": "an error: the one JSON error shape",
                                  "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}},
    }
    if op.body is not None:
        out["requestBody"] = {"required": op.body_required, "content": {op.body[0]: {"schema": op.body[1]}}}
    return out


def document(app: Quart, server_url: str = "/") -> dict[str, Any]:
    """The OpenAPI 3.1 document for the routes `app` really has (undescribed ones are left out)."""
    paths: dict[str, dict[str, Any]] = {}
    for method, rule in routes(app):
        op = OPERATIONS.get((method, rule))
        if op is not None:
            paths.setdefault(openapi_path(rule), {})[method.lower()] = _operation(method, rule, op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "SlicerWeb: Slicer REST API and admin", "version": __version__,
                 "description": "3D Slicer's WebServer REST API (/slicer) and the runtime feature toggles "
                                "(/admin). Bearer tokens (OAuth 2) unless the server runs loopback-only "
                                "without auth."},
        "servers": [{"url": server_url}],
        "paths": paths,
        "components": {"schemas": {"Error": ERROR},
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "security": [{"bearer": []}, {}],
    }
