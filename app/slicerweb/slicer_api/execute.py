"""/slicer/exec: run Python with the scene in scope; `__execResult` comes back as JSON.

The code comes from the request body (any method, as the original module and its curl examples do).
`GET ?source=` is refused unless `features.exec_get_source` is on: a single `<img>` tag on any web
page could otherwise run code. The guard has already checked the exec scope and the exec gate.
"""

from __future__ import annotations

import json

from quart import Blueprint, Response, request

from ..auth.actions import requires
from ..engine.errors import EngineError, RemoteFailure
from ..errors import BadRequest, Forbidden, error_response
from ..request_context import current
from ..services import Services


def register(bp: Blueprint, services: Services) -> None:
    policy, gate = services.policy, services.gate

    @bp.route("/exec", methods=["GET", "POST", "PUT"])
    @requires("exec")
    async def execute() -> Response:
        body = await request.get_data(cache=True, as_text=False, parse_form_data=False)
        source = body.decode("utf-8", errors="strict") if body else ""
        if not source and "source" in request.args:
            if not policy.features.exec_get_source:
                raise Forbidden("exec source in the query string is refused (cross-site risk); "
                                "POST the code as the request body")
            source = request.args["source"]
        if not source.strip():
            raise BadRequest("no code: POST the Python source as the request body")
        admitted = current()
        context = {"client": admitted.client, "request_id": admitted.request_id}
        try:
            result = await services.engine.scene.execute(source)
            payload = json.dumps(result)
        except EngineError:
            gate.record_run(admitted.principal, source, outcome="refused", **context)
            raise
        except Exception as exc:  # the user's code failed: report it, as the original does
            # raised where the scene lives (Slicer, or the worker owning it): named as it was raised there
            kind = exc.kind if isinstance(exc, RemoteFailure) else type(exc).__name__
            gate.record_run(admitted.principal, source, outcome="error", error=kind, **context)
            return error_response(500, f"{kind}: {exc}", "exec_error")
        gate.record_run(admitted.principal, source, outcome="ok", **context)
        return Response(payload, content_type="application/json")
