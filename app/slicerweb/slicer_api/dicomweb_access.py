"""/slicer/accessDICOMwebStudy: fetch a study from a DICOMweb server, import it, load it.

Body (JSON): `dicomWEBPrefix` + `dicomWEBStore` form the service root, `studyUID` the study,
`accessToken` the bearer token sent to that server. The original always failed (its parsed body
was wrapped in a tuple); this one works. The server fetched from is chosen by the caller, so the
URL must be allowed by `server.url_load_prefixes` (any on a loopback-only server).
"""

from __future__ import annotations

import json

from quart import Blueprint, Response, jsonify, request

from ..engine.scene_api import DicomWebSource
from ..errors import BadRequest, Forbidden
from ..services import Services
from .mrml import url_allowed, url_prefixes


def register(bp: Blueprint, services: Services) -> None:
    scene = services.engine.scene
    policy = services.policy

    @bp.post("/accessDICOMwebStudy")
    async def access_dicomweb_study() -> Response:
        try:
            body = json.loads(await request.get_data(cache=False) or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BadRequest(f"the request body must be JSON: {exc}") from None
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        prefix, study = _string(body, "dicomWEBPrefix", required=True), _string(body, "studyUID", required=True)
        store, token = _string(body, "dicomWEBStore"), _string(body, "accessToken")
        source = DicomWebSource(prefix, store, study, token, allowed_prefixes=url_prefixes(policy))
        if not source.base_url.startswith(("http://", "https://")):
            raise BadRequest("dicomWEBPrefix must be an http(s) URL")
        if not url_allowed(policy, source.base_url):
            raise Forbidden("fetching from this DICOMweb server is not allowed (server.url_load_prefixes)")
        ids = await scene.access_dicomweb_study(source)
        return jsonify({"success": True, "loadedNodeIDs": ids})


def _string(body: dict[str, object], key: str, *, required: bool = False) -> str:
    """`body[key]` as a string ("" when absent and optional); 400 naming the key otherwise."""
    value = body.get(key)
    if required and (not isinstance(value, str) or not value):
        raise BadRequest(f"'{key}' (a string) is required")
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"'{key}' must be a string")
    return value or ""
