"""Static pages from the docroot: containment-checked, regular files only, no listings.

A request path is refused when it holds NUL or a backslash (400), or a `.`/`..`/hidden segment (404);
the remaining path is resolved (symlinks included) and must stay inside the docroot, so a symlink out
of the docroot and the sibling-prefix case (`docroot_private`) both fail. Directories serve their
`index.html`. Responses carry ETag and Last-Modified and answer conditional GETs with 304.
`/browse...` serves the bundled OHIF viewer (its index.html for client-side routes);
`/browse/app-config.js` adds the policy's sign-in settings to the installed config (viewer_config.py).
`/admin/` is the admin console (docroot/admin/), served with its own stricter CSP; `/admin/config.json`
holds its sign-in settings (console_config.py). Its API (/admin/api/...) is admin.py's, not this family's.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from quart import Blueprint, Response, jsonify, send_file

from .console_config import console_csp, console_settings
from .errors import BadRequest, NotFound
from .services import Services
from .viewer_config import app_config_js

BUNDLED_DOCROOT = Path(__file__).resolve().parents[2] / "docroot"
mimetypes.add_type("application/javascript", ".js")
mimetypes.add_type("application/javascript", ".mjs")
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("application/json", ".map")
mimetypes.add_type("text/css", ".css")


def resolve(docroot: Path, subpath: str) -> Path:
    """Map a decoded URL path onto a regular file inside `docroot`, or raise.

    >>> resolve(Path("/srv/docroot"), "images/logo.png")   # doctest: +SKIP
    PosixPath('/srv/docroot/images/logo.png')
    """
    if "\0" in subpath or "\\" in subpath:
        raise BadRequest("invalid path")
    parts = [p for p in subpath.split("/") if p]
    if any(p in (".", "..") or p.startswith(".") for p in parts):
        raise NotFound("not found")
    root = docroot.resolve()
    candidate = root.joinpath(*parts)
    try:
        target = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        raise NotFound("not found") from None
    if target != root and not target.is_relative_to(root):
        raise NotFound("not found")
    if target.is_dir():
        target = target / "index.html"
        if not target.is_file():
            raise NotFound("not found")
    if not target.is_file():
        raise NotFound("not found")
    return target


def browse_target(docroot: Path, subpath: str) -> Path:
    """OHIF is a single-page app: existing files under browse/ are served, other routes get its index."""
    try:
        return resolve(docroot, subpath)
    except NotFound:
        for index in ("browse/index.html", "browse.html"):
            if (docroot / index).is_file():
                return resolve(docroot, index)
        raise


def create_blueprint(services: Services) -> Blueprint:
    """Blueprint serving `server.docroot` (or the bundled docroot) at /."""
    docroot = Path(services.policy.server.docroot or BUNDLED_DOCROOT)
    bp = Blueprint("static_pages", __name__)

    @bp.route("/browse/app-config.js", methods=["GET", "HEAD"])
    async def viewer_config() -> Response:
        # The installed config plus the policy's sign-in settings (viewer_config.py says why).
        base = resolve(docroot, "browse/app-config.js").read_text(encoding="utf-8")
        response = Response(app_config_js(base, services.policy), mimetype="application/javascript")
        response.headers["Cache-Control"] = "no-cache"
        return response

    console_policy = console_csp(services.policy)

    @bp.route("/admin/config.json", methods=["GET", "HEAD"])
    async def console_config() -> Response:
        response = jsonify(console_settings(services.policy))
        response.headers["Cache-Control"] = "no-cache"
        return response

    @bp.route("/", defaults={"subpath": ""}, methods=["GET", "HEAD"])
    @bp.route("/<path:subpath>", methods=["GET", "HEAD"])
    async def page(subpath: str) -> Response:
        if subpath == "browse" or subpath.startswith("browse/"):
            target = browse_target(docroot, subpath)
        else:
            target = resolve(docroot, subpath)
        mimetype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        response = await send_file(target, mimetype=mimetype, conditional=True)
        # Revalidate every time (ETag/Last-Modified make that a cheap 304), instead of Quart's 12 h Expires.
        response.headers.pop("Expires", None)
        response.headers["Cache-Control"] = "no-cache"
        if subpath == "admin" or subpath.startswith("admin/"):
            response.headers["Content-Security-Policy"] = console_policy
        return response

    return bp
