"""RequestContext (`request_context.py`): set once by the guard, read by handlers, hooks and the access log."""

from __future__ import annotations

import pytest

from slicerweb.app import services_of
from slicerweb.auth.identity import Principal
from slicerweb.forwarded import Origin
from slicerweb.request_context import CONTEXT, RequestContext, attach, context_of, request_id_of

CONTEXT_VALUE = RequestContext(request_id="r1", origin=Origin("10.0.0.7", "https", "slicer.lan"),
                               family="slicer", action="slicer_write", principal=Principal("alice"))


def test_the_context_is_set_once_and_read_back():
    scope: dict[str, object] = {"slicerweb.request_id": "r1"}
    assert context_of(scope) is None and request_id_of(scope) == "r1" and request_id_of({}) == "-"
    attach(scope, CONTEXT_VALUE)
    assert context_of(scope) is CONTEXT_VALUE
    assert (CONTEXT_VALUE.client, CONTEXT_VALUE.subject) == ("10.0.0.7", "alice")
    with pytest.raises(RuntimeError, match="set once"):
        attach(scope, CONTEXT_VALUE)
    assert scope[CONTEXT] is CONTEXT_VALUE
    with pytest.raises(AttributeError):
        CONTEXT_VALUE.action = "exec"  # type: ignore[misc]  # frozen: nobody rewrites the decision


async def test_a_handler_sees_what_the_guard_decided(make_app):
    """The admin handler's audit record carries the guard's request id, client and subject."""
    app, _ = make_app()
    response = await app.test_client().put("/admin/features/exec", json={"enabled": False},
                                           headers={"X-Request-ID": "ctx-1"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "ctx-1"
    records = {r["event"]: r for r in services_of(app).audit.read() if r.get("request_id") == "ctx-1"}
    toggle, act = records["feature.toggle"], records["admin"]  # the handler's record, the guard hook's
    assert toggle["subject"] == act["subject"] == "local" and toggle["client"] == act["client"]
