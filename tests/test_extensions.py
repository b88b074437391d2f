"""Extension point contract: a package registering a family in the `slicerweb.families` entry-point group
is mounted under the same flag, guard and error model as the built-in families."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest

PLUGIN = textwrap.dedent('''
    from quart import Blueprint, jsonify

    from slicerweb.auth.actions import requires


    def create_blueprint(services):
        bp = Blueprint("hello", __name__, url_prefix="/hello")

        @bp.get("/ping")
        async def ping():
            return jsonify({"engine": services.engine.name})

        @bp.get("/boom")
        @requires("slicer_write")
        async def boom():
            raise LookupError("secret detail")

        return bp


    FAMILY = ("slicer", "slicer", create_blueprint)
''')


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "slicerweb_hello").mkdir(parents=True)
    (site / "slicerweb_hello" / "__init__.py").write_text(PLUGIN)
    info = site / "slicerweb_hello-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: slicerweb-hello\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[slicerweb.families]\nhello = slicerweb_hello:FAMILY\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield
    monkeypatch.delitem(sys.modules, "slicerweb_hello", raising=False)


async def test_plugin_family_is_mounted_under_the_same_guard(plugin, make_app):
    app, _ = make_app()
    http = app.test_client()
    reply = await http.get("/hello/ping")
    assert reply.status_code == 200 and await reply.get_json() == {"engine": "headless"}
    refused = await http.get("/hello/ping?access_token=abc")  # the guard's query-token rule applies
    assert refused.status_code == 400 and refused.headers["Content-Type"] == "application/json"
    failed = await http.get("/hello/boom")  # the error model applies: no exception text leaks
    assert failed.status_code == 500 and "secret" not in (await failed.get_data(as_text=True))


async def test_plugin_family_follows_its_policy_flag(plugin, make_app, make_policy):
    app, _ = make_app(make_policy(features__slicer=False))
    assert (await app.test_client().get("/hello/ping")).status_code == 404
