"""/slicer/mrml: node names, ids and properties; load (POST), save (GET /mrml/file), reload (PUT), remove (DELETE).

`POST /mrml?seriesUID=<uid>` loads a series from the DICOM database as a volume.

Compatible with slicerio 1.4.0 and the WebServer module: POST/PUT/DELETE accept `/mrml` and any
`/mrml/...` subpath (the docs say `/mrml/file`, slicerio uses `/mrml`); GET needs an exact subpath.
Selection: `id`, or `class` (with subclasses) and `name`; DELETE without any selection clears the
scene, as the original and slicerio's `node_remove()` expect.

Server files: `localfile=` and `url=file://` paths are read or written on the *server*, so they are
confined to `server.file_roots` (none configured: anywhere on a loopback-only server, nowhere
otherwise) and every such access is audited with the resolved path. `url=http(s)://` downloads are
confined to `server.url_load_prefixes` by the same rule.
"""

from __future__ import annotations

import urllib.parse
import urllib.request

from quart import Blueprint, Response, g, jsonify

from ..auth.actions import requires
from ..errors import BadRequest, Forbidden, NotFound
from ..policy import Policy
from ..services import Services
from .params import SELECTION_KEYS, arg, node_filter, other_args

GET_PATHS = ("", "names", "ids", "properties")


def file_roots(policy: Policy) -> tuple[str, ...] | None:
    """Allowed server directories: the configured roots; None (anywhere) on loopback; else none."""
    roots = policy.server.file_roots
    if roots:
        return roots
    return None if policy.is_loopback_only else ()


def url_prefixes(policy: Policy) -> tuple[str, ...] | None:
    """Prefixes downloads (and their redirects) must match; None: any http(s) URL."""
    return policy.server.url_load_prefixes or None


def url_allowed(policy: Policy, url: str) -> bool:
    prefixes = policy.server.url_load_prefixes
    if prefixes:
        return any(url.startswith(prefix) for prefix in prefixes)
    return policy.is_loopback_only


def register(bp: Blueprint, services: Services) -> None:
    scene = services.engine.scene
    policy = services.policy

    def audit_file(action: str, path: str) -> None:
        services.audit.record(f"slicer.file.{action}", subject=g.principal.subject, client=g.origin.client,
                              request_id=g.request_id, path=path)

    def local_path(value_of_url: str | None, localfile: str | None) -> str | None:
        path = None
        if localfile:
            path = localfile
        elif value_of_url and urllib.parse.urlparse(value_of_url).scheme == "file":
            path = urllib.request.url2pathname(urllib.parse.urlparse(value_of_url).path)
        if path is not None and "\x00" in path:  # the OS refuses it (ValueError deep in the engine: a 500)
            raise BadRequest("`localfile` / file:// `url` must not contain a NUL byte",
                             parameter="localfile" if localfile else "url")
        return path

    @bp.get("/mrml")
    @bp.get("/mrml/<path:sub>")
    async def mrml_get(sub: str = "") -> Response:
        selection = node_filter()
        if sub in ("", "names"):
            return jsonify([n.name for n in await scene.select(selection)])
        if sub == "ids":
            return jsonify([n.id for n in await scene.select(selection)])
        if sub == "properties":
            return jsonify(await scene.properties(selection))
        raise NotFound(f"Invalid path: /mrml/{sub}")

    @bp.get("/mrml/file")
    @requires("slicer_write")  # writes a file on the server
    async def mrml_save() -> Response:
        url = arg("url")
        path = local_path(url, arg("localfile"))
        if path is None:
            raise BadRequest("Required `url` (file://) or `localfile` query parameter is missing in `mrml` request")
        properties = other_args("url", "localfile", *SELECTION_KEYS)
        audit_file("save", path)
        await scene.save_file(node_filter(), path, properties, file_roots(policy))
        return jsonify({"success": True})

    @bp.post("/mrml")
    @bp.post("/mrml/<path:sub>")
    async def mrml_load(sub: str = "") -> Response:
        url, localfile = arg("url"), arg("localfile")
        properties = other_args("url", "localfile")
        filetype = properties.get("filetype")
        if url and urllib.parse.urlparse(url).scheme == "slicer":
            return jsonify({"success": True, "loadedNodeIDs": await scene.open_url(url)})
        series_uid = arg("seriesUID") or arg("seriesInstanceUID")
        if series_uid:  # a series from the DICOM database (DICOMUtils.loadSeriesByUID in Slicer)
            return jsonify({"success": True, "loadedNodeIDs": await scene.load_dicom_series(series_uid)})
        if not filetype:
            raise BadRequest("the `filetype` query parameter is required (e.g. VolumeFile, SegmentationFile, "
                             "MarkupsFile, TransformFile)")
        path = local_path(url, localfile)
        if path is not None:
            audit_file("load", path)
            ids = await scene.load_file(path, filetype, properties, file_roots(policy))
        elif url:
            if urllib.parse.urlparse(url).scheme not in ("http", "https"):
                raise BadRequest("url must be http(s)://, file:// or slicer://")
            if not url_allowed(policy, url):
                raise Forbidden("downloading from this URL is not allowed (server.url_load_prefixes)")
            audit_file("download", url)
            ids = await scene.load_url(url, filetype, properties, policy.limits.upload_max_body_bytes,
                                       url_prefixes(policy))
        else:
            raise BadRequest("Required `url` or `localfile` query parameter is missing in `mrml` request")
        return jsonify({"success": True, "loadedNodeIDs": ids})

    @bp.put("/mrml")
    @bp.put("/mrml/<path:sub>")
    async def mrml_reload(sub: str = "") -> Response:
        reloaded = await scene.reload(node_filter(), file_roots(policy))
        if not reloaded:
            return jsonify({"success": False, "reloadedNodeIDs": []})
        return jsonify({"success": True, "reloadedNodeIDs": reloaded})

    @bp.delete("/mrml")
    @bp.delete("/mrml/<path:sub>")
    async def mrml_remove(sub: str = "") -> Response:
        removed = await scene.remove(node_filter())
        return jsonify({"success": True, "removedNodeIDs": removed})

    @bp.post("/open")
    async def open_url() -> Response:
        """slicerio's `file_load("slicer://...")` (the original has no such route)."""
        url = arg("url")
        if not url:
            raise BadRequest("Required `url` query parameter is missing")
        return jsonify({"success": True, "loadedNodeIDs": await scene.open_url(url)})
