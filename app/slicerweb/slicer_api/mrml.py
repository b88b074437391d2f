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

from quart import Blueprint, Response, jsonify

from ..auth.actions import requires
from ..errors import BadRequest, Forbidden, NotFound
from ..policy import Policy
from ..request_context import current
from ..routes import Route, mount
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


def audit_file(services: Services, action: str, path: str) -> None:
    """Audit one server-file access (load, save, download) with the resolved path or URL."""
    context = current()
    services.audit.record(f"slicer.file.{action}", subject=context.subject, client=context.client,
                          request_id=context.request_id, path=path)


def local_path(value_of_url: str | None, localfile: str | None) -> str | None:
    """The server path named by `localfile=` or a `file://` url, if any."""
    path = None
    if localfile:
        path = localfile
    elif value_of_url and urllib.parse.urlparse(value_of_url).scheme == "file":
        path = urllib.request.url2pathname(urllib.parse.urlparse(value_of_url).path)
    if path is not None and "\x00" in path:  # the OS refuses it (ValueError deep in the engine: a 500)
        raise BadRequest("`localfile` / file:// `url` must not contain a NUL byte",
                         parameter="localfile" if localfile else "url")
    return path


async def mrml_get(services: Services, sub: str = "") -> Response:
    """GET /mrml[/names|/ids|/properties]: the selected nodes' names, ids or properties."""
    scene = services.engine.scene
    selection = node_filter()
    if sub in ("", "names"):
        return jsonify([n.name for n in await scene.select(selection)])
    if sub == "ids":
        return jsonify([n.id for n in await scene.select(selection)])
    if sub == "properties":
        return jsonify(await scene.properties(selection))
    raise NotFound(f"Invalid path: /mrml/{sub}")


@requires("slicer_write")  # writes a file on the server
async def mrml_save(services: Services) -> Response:
    """GET /mrml/file: save the selected node to a server file (`url=file://` or `localfile=`)."""
    url = arg("url")
    path = local_path(url, arg("localfile"))
    if path is None:
        raise BadRequest("Required `url` (file://) or `localfile` query parameter is missing in `mrml` request")
    properties = other_args("url", "localfile", *SELECTION_KEYS)
    audit_file(services, "save", path)
    await services.engine.scene.save_file(node_filter(), path, properties, file_roots(services.policy))
    return jsonify({"success": True})


async def mrml_load(services: Services, sub: str = "") -> Response:
    """POST /mrml: load a file (server path or http(s) URL), a `slicer://` URL or a DICOM series."""
    scene, policy = services.engine.scene, services.policy
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
        audit_file(services, "load", path)
        ids = await scene.load_file(path, filetype, properties, file_roots(policy))
    elif url:
        if urllib.parse.urlparse(url).scheme not in ("http", "https"):
            raise BadRequest("url must be http(s)://, file:// or slicer://")
        if not url_allowed(policy, url):
            raise Forbidden("downloading from this URL is not allowed (server.url_load_prefixes)")
        audit_file(services, "download", url)
        ids = await scene.load_url(url, filetype, properties, int(policy.limits.upload_max_body_bytes),
                                   url_prefixes(policy))
    else:
        raise BadRequest("Required `url` or `localfile` query parameter is missing in `mrml` request")
    return jsonify({"success": True, "loadedNodeIDs": ids})


async def mrml_reload(services: Services, sub: str = "") -> Response:
    """PUT /mrml: reload the selected nodes from their files."""
    reloaded = await services.engine.scene.reload(node_filter(), file_roots(services.policy))
    if not reloaded:
        return jsonify({"success": False, "reloadedNodeIDs": []})
    return jsonify({"success": True, "reloadedNodeIDs": reloaded})


async def mrml_remove(services: Services, sub: str = "") -> Response:
    """DELETE /mrml: remove the selected nodes (no selection: clear the scene)."""
    removed = await services.engine.scene.remove(node_filter())
    return jsonify({"success": True, "removedNodeIDs": removed})


async def open_url(services: Services) -> Response:
    """slicerio's `file_load("slicer://...")` (the original has no such route)."""
    url = arg("url")
    if not url:
        raise BadRequest("Required `url` query parameter is missing")
    return jsonify({"success": True, "loadedNodeIDs": await services.engine.scene.open_url(url)})


ROUTES = (
    Route("GET", "/mrml", mrml_get),
    Route("GET", "/mrml/<path:sub>", mrml_get),
    Route("GET", "/mrml/file", mrml_save),
    Route("POST", "/mrml", mrml_load),
    Route("POST", "/mrml/<path:sub>", mrml_load),
    Route("PUT", "/mrml", mrml_reload),
    Route("PUT", "/mrml/<path:sub>", mrml_reload),
    Route("DELETE", "/mrml", mrml_remove),
    Route("DELETE", "/mrml/<path:sub>", mrml_remove),
    Route("POST", "/open", open_url),
)


def register(bp: Blueprint, services: Services) -> None:
    mount(bp, ROUTES, services)
