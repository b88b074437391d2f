"""GET /livez (the process answers) and GET /readyz (the engine can serve: 503 JSON naming what not).

For systemd, the proxy's upstream checks and monitoring on this host: only local callers get an
answer (see local_caller.py); anyone else gets the same 404 as an unmounted path, so the public
front reveals nothing. Never cached.
"""

from __future__ import annotations

import os

from quart import Blueprint, Response, jsonify, request

from .errors import NotFound
from .local_caller import is_local_caller
from .services import Services

NO_STORE = {"Cache-Control": "no-store"}


def create_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("health", __name__)

    @bp.before_request
    async def local_only() -> None:
        client = request.scope.get("client")
        if not is_local_caller(client[0] if client else "", request.headers, services.trust, request.scheme):
            raise NotFound("not found")

    @bp.get("/livez")
    async def livez() -> tuple[Response, int, dict[str, str]]:
        return jsonify({"status": "alive"}), 200, NO_STORE

    @bp.get("/readyz")
    async def readyz() -> tuple[Response, int, dict[str, str]]:
        readiness = await services.engine.readiness()
        # Which of several workers answered (`serve --workers N`): a local operator's view, never a secret.
        worker = {} if services.worker is None else {"worker": {"index": services.worker, "pid": os.getpid()}}
        if readiness.ready:
            return jsonify({"status": "ready", "checks": readiness.checks, **worker}), 200, NO_STORE
        named = "; ".join(f"{name}: {problem}" for name, problem in readiness.problems.items())
        return jsonify({"success": False, "code": "not_ready", "message": f"not ready: {named}",
                        "checks": readiness.checks, **worker}), 503, NO_STORE

    return bp
