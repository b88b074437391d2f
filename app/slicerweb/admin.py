"""/admin: runtime feature toggles (admin scope), every change audited with who, when, old and new.

    GET    /admin/features                 -> {"features": [{name, enabled, policy, override}, ...]}
    PUT    /admin/features/exec  {"enabled": true, "minutes": 15}
    DELETE /admin/features/exec            -> back to the policy's value

The admin console (docroot/admin/, a static page) calls the /admin/api/... endpoints:

    GET /admin/api/features        every [features] flag: policy ceiling, runtime state, who changed it, when
    PUT /admin/api/features/NAME   {"enabled": true, "minutes": 5, "reason": "..."}; the reason is required
    GET /admin/api/audit           newest first; ?actor= &action= &outcome= &limit= &before=<next of a page>

Every path here needs the admin scope (the guard's action for the admin family is `admin` for every
method, GETs included). Exec expiry is enforced where exec is checked (`features.py`); the watcher
started here only writes the `feature.expired` record at that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from quart import Blueprint, Response, jsonify, request

from . import admin_dicom
from .audit_pages import MAX_LIMIT, OUTCOMES, AuditFilter, BadCursor, Cursor, read_page
from .errors import BadRequest, Conflict, Forbidden, NotFound
from .features import DEFAULT_EXEC_MINUTES, TOGGLEABLE, FeatureFlags, FeatureRefused
from .policy import FAMILIES, SETTINGS
from .request_context import current
from .services import Services

REASON_MAX_CHARS = 500
AUDIT_PAGE_DEFAULT = 50
FILTER_MAX_CHARS = 200


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
            context = current()
            state = await flags.set(name, body["enabled"], actor=context.subject, minutes=minutes,
                                    client=context.client, request_id=context.request_id)
        except FeatureRefused as exc:
            raise Conflict(str(exc)) from None
        return jsonify(state.as_json())

    @bp.delete("/features/<name>")
    async def reset_feature(name: str) -> Response:
        _known(name)
        context = current()
        state = await flags.reset(name, actor=context.subject, client=context.client,
                                  request_id=context.request_id)
        return jsonify(state.as_json())

    _console_api(bp, services)
    _watch_expiry(bp, flags)
    admin_dicom.register(bp, services)  # POST /admin/api/dicom/check
    return bp


def _known(name: str) -> None:
    if name not in TOGGLEABLE:
        raise NotFound(f"unknown feature {name!r}; known: {', '.join(TOGGLEABLE)}")


def _console_api(bp: Blueprint, services: Services) -> None:
    """The /admin/api/... endpoints the admin console calls (all JSON, all admin scope)."""
    flags = services.flags
    policy = services.policy

    @bp.get("/api/features")
    async def console_features() -> Response:
        await flags.expire_due()  # an expiry due now shows as over, in the list and the audit log
        features = []
        for setting in SETTINGS:
            if setting.section != "features" or setting.type is not bool:
                continue
            entry: dict[str, Any] = {"name": setting.key, "help": setting.help,
                                     "kind": "family" if setting.key in FAMILIES else "feature",
                                     "toggleable": setting.key in TOGGLEABLE}
            if setting.key in TOGGLEABLE:
                entry.update((await flags.state(setting.key)).as_json())
            else:
                value = bool(getattr(policy.features, setting.key))
                entry.update({"enabled": value, "policy": value, "override": None})
            features.append(entry)
        return jsonify({"features": features, "exec_toggle": {
            "allowed": bool(policy.features.exec_toggle), "max_minutes": int(policy.features.exec_toggle_max_minutes),
            "default_minutes": min(DEFAULT_EXEC_MINUTES, int(policy.features.exec_toggle_max_minutes))},
            "subject": current().subject})

    @bp.put("/api/features/<name>")
    async def console_switch(name: str) -> Response:
        _known(name)
        enabled, minutes, reason = _switch_body(await request.get_data(cache=False))
        if name == "exec" and enabled and not policy.features.exec_toggle:
            raise Forbidden(f"the policy ({policy.source}) does not allow switching exec on at runtime "
                            "(features.exec_toggle = false)")
        if name == "exec" and enabled and minutes is None:
            raise BadRequest("switching exec on needs minutes: how long it stays on")
        context = current()
        try:
            state = await flags.set(name, enabled, actor=context.subject, minutes=minutes,
                                    reason=reason, via="console", client=context.client, request_id=context.request_id)
        except FeatureRefused as exc:
            raise Conflict(str(exc)) from None
        return jsonify(state.as_json())

    @bp.get("/api/audit")
    async def console_audit() -> Response:
        query, limit, cursor = _audit_query(request.args)
        try:
            page = await asyncio.to_thread(read_page, services.audit.sources(), query, limit, cursor)
        except BadCursor as exc:
            raise BadRequest(f"before: {exc}") from None
        return jsonify({"entries": page.entries, "next": page.next.token() if page.next else None,
                        "scanned_bytes": page.scanned_bytes})


def _switch_body(data: str | bytes) -> tuple[bool, float | None, str]:
    """(enabled, minutes, reason) from the console's JSON body, or a 400 naming what is wrong."""
    example = '{"enabled": true, "minutes": 5, "reason": "ticket 1234: run the export script"}'
    try:
        body: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("enabled"), bool):
        raise BadRequest(f"body must be JSON like {example}")
    minutes = body.get("minutes")
    if minutes is not None and (isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or
                                not 0 < minutes < float("inf")):
        raise BadRequest("minutes must be a positive number")
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequest(f"a reason is required (it goes to the audit log), e.g. {example}")
    if len(reason) > REASON_MAX_CHARS:
        raise BadRequest(f"reason is longer than {REASON_MAX_CHARS} characters")
    return body["enabled"], None if minutes is None else float(minutes), reason.strip()


def _audit_query(args: Any) -> tuple[AuditFilter, int, Cursor | None]:
    """Filter, page size and cursor from the query string, or a 400 naming the bad parameter."""
    values = {key: str(args.get(key, "")).strip() for key in ("actor", "action", "outcome", "limit", "before")}
    for key in ("actor", "action"):
        if len(values[key]) > FILTER_MAX_CHARS:
            raise BadRequest(f"{key} is longer than {FILTER_MAX_CHARS} characters")
    if values["outcome"] and values["outcome"] not in OUTCOMES:
        raise BadRequest(f"outcome must be one of {', '.join(OUTCOMES)}")
    limit = AUDIT_PAGE_DEFAULT
    if values["limit"]:
        if not values["limit"].isdigit() or not 1 <= int(values["limit"]) <= MAX_LIMIT:
            raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
        limit = int(values["limit"])
    try:
        cursor = Cursor.parse(values["before"]) if values["before"] else None
    except BadCursor as exc:
        raise BadRequest(f"before: {exc}") from None
    return AuditFilter(values["actor"], values["action"], values["outcome"]), limit, cursor


def _watch_expiry(bp: Blueprint, flags: FeatureFlags) -> None:
    """While the app serves, audit each runtime override when its time is up (`FeatureFlags.watch_expiry`)."""
    tasks: list[asyncio.Task[None]] = []

    @bp.before_app_serving
    async def start_watch() -> None:
        tasks.append(asyncio.get_running_loop().create_task(flags.watch_expiry()))

    @bp.after_app_serving
    async def stop_watch() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        tasks.clear()
