"""Every /slicer route that changes state needs the write scope, even when it is a GET
(sampledata, volumeSelection, tracking, gui, fiducial, mrml/file which writes a server file).
Built from the route table, so a new route cannot slip through."""

from __future__ import annotations

from slicerweb.auth.actions import action_of

STATE_CHANGING_GETS = {"/slicer/sampledata", "/slicer/volumeSelection", "/slicer/tracking", "/slicer/gui",
                       "/slicer/fiducial", "/slicer/mrml/file"}


def test_state_changing_gets_require_slicer_write(make_app):
    app, _ = make_app()
    seen = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/slicer") or "GET" not in (rule.methods or ()):
            continue
        action = action_of(app.view_functions[rule.endpoint], "slicer", "GET")
        if rule.rule in STATE_CHANGING_GETS:
            seen.add(rule.rule)
            assert action == "slicer_write", rule.rule
        elif rule.rule != "/slicer/exec":
            assert action == "slicer_read", rule.rule
    assert seen == STATE_CHANGING_GETS


def test_write_methods_default_to_slicer_write(make_app):
    app, _ = make_app()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/slicer") and rule.rule != "/slicer/exec":
            for method in (rule.methods or set()) - {"GET", "HEAD", "OPTIONS"}:
                assert action_of(app.view_functions[rule.endpoint], "slicer", method) == "slicer_write"
