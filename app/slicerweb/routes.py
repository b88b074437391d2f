"""Route tables: module-level handlers, bound to the app's Services when a blueprint is built.

A module lists its endpoints as a short table of `Route(method, rule, handler)`; each handler is an
ordinary module-level `async def handler(services, **url_values)`, findable by name and callable
alone. `mount(bp, ROUTES, services)` adds them to a blueprint: one view per handler (its name is the
endpoint; `@requires` and `@upload` marks carry over), so every rule of a handler shares one endpoint.

    ROUTES = (Route("GET", "/mrml", mrml_get), Route("GET", "/mrml/<path:sub>", mrml_get), ...)

    def register(bp: Blueprint, services: Services) -> None:
        mount(bp, ROUTES, services)
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from quart import Blueprint, Response

from .services import Services

Handler = Callable[..., Awaitable[Response]]  # (services, **url_values) -> Response


@dataclass(frozen=True)
class Route:
    """One row of a route table: HTTP method, URL rule (relative to the blueprint) and handler."""

    method: str
    rule: str
    handler: Handler


def bind(handler: Handler, services: Services) -> Callable[..., Awaitable[Response]]:
    """The Quart view for `handler`: it passes `services`, then the URL values."""

    async def view(**url_values: Any) -> Response:
        return await handler(services, **url_values)

    # Name (the endpoint), docstring and the marks set by @requires / @upload come from the handler.
    return functools.update_wrapper(view, handler)


def mount(bp: Blueprint, routes: Iterable[Route], services: Services) -> None:
    """Add every route of a table to `bp`, one view per handler."""
    views: dict[Handler, Callable[..., Awaitable[Response]]] = {}
    for route in routes:
        if route.handler not in views:
            views[route.handler] = bind(route.handler, services)
        bp.add_url_rule(route.rule, view_func=views[route.handler], methods=[route.method])
