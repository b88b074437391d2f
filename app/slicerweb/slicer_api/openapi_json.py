"""/slicer/openapi.json: the OpenAPI 3.1 document of /slicer and /admin (built by `openapi.py`)."""

from __future__ import annotations

from quart import Blueprint, Response, current_app, jsonify

from ..openapi import document
from ..services import Services


def register(bp: Blueprint, services: Services) -> None:
    @bp.get("/openapi.json")
    async def openapi_json() -> Response:
        return jsonify(document(current_app, services.policy.server.public_url or "/"))
