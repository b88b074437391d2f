"""/admin: runtime feature toggles (admin scope), every change audited with who, when, old and new.

    GET    /admin/features                 -> {"features": [{name, enabled, policy, override}, ...]}
    PUT    /admin/features/exec  {"enabled": true, "minutes": 15}
    DELETE /admin/features/exec            -> back to the policy's value
"""

from __future__ import annotations

import json
from typing import Any

from quart import Blueprint, Response, g, jsonify, request

from . import admin_dicom
from .errors import BadRequest, Conflict, NotFound
from .features import TOGGLEABLE, FeatureRefused
from .services import Services


def create_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("admin", __name__, url_prefix="/admin")
    flags = services.flags

    @bp.get("/features")
    async def list_features() -> Response:
        states = [(await flags.state(name)).as_json() for name in TOGGLEABLE]
        return jsonify({"features": states})

    @bp.get("/features/<name>")
    async def get_feature(name: str) -> Response:
        _known(name)
        return jsonify((await flags.state(name)).as_json())

    @bp.put("/features/<name>")
    async def put_feature(name: str) -> Response:
        _known(name)
        # Decoded here: Quart's get_json(silent=True) still raises on a body that is not UTF-8.
        try:
            body: Any = json.loads(await request.get_data(cache=False))
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
            raise BadRequest('body must be JSON like {"enabled": true, "minutes": 15}')
        minutes = body.get("minutes")
        if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, (int, float))):
            raise BadRequest("minutes must be a number")
        try:
            state = await flags.set(name, body["enabled"], actor=g.principal.subject, minutes=minutes,
                                    client=g.origin.client, request_id=g.request_id)
        except FeatureRefused as exc:
            raise Conflict(str(exc)) from None
        return jsonify(state.as_json())

    @bp.delete("/features/<name>")
    async def reset_feature(name: str) -> Response:
        _known(name)
        state = await flags.reset(name, actor=g.principal.subject, client=g.origin.client,
                                  request_id=g.request_id)
        return jsonify(state.as_json())

    admin_dicom.register(bp, services)  # POST /admin/api/dicom/check
    return bp


def _known(name: str) -> None:
    if name not in TOGGLEABLE:
        raise NotFound(f"unknown feature {name!r}; known: {', '.join(TOGGLEABLE)}")
