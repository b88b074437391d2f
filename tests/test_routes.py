"""Route tables (`routes.py`): module-level handlers mounted with the app's Services, one endpoint each."""

from __future__ import annotations

from quart import Blueprint, Quart, jsonify

from slicerweb.auth.actions import action_of, requires
from slicerweb.routes import Route, mount


@requires("slicer_write")
async def echo(services, sub: str = ""):
    """Answers with what it was given."""
    return jsonify({"services": services["name"], "sub": sub})


async def test_a_table_mounts_each_handler_once_with_services_and_url_values():
    bp = Blueprint("t", __name__, url_prefix="/t")
    mount(bp, (Route("GET", "/echo", echo), Route("POST", "/echo/<path:sub>", echo)), {"name": "the services"})
    app = Quart("t")
    app.register_blueprint(bp)
    assert sorted(rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint != "static") == ["t.echo"] * 2
    view = app.view_functions["t.echo"]
    assert action_of(view, "slicer", "GET") == "slicer_write" and view.__doc__ == echo.__doc__
    client = app.test_client()
    assert await (await client.get("/t/echo")).get_json() == {"services": "the services", "sub": ""}
    assert await (await client.post("/t/echo/a/b")).get_json() == {"services": "the services", "sub": "a/b"}
    assert (await client.post("/t/echo")).status_code == 405
