"""Middleware: one ASGI layer as data (its class and arguments), and the stack built from an ordered list.

As Starlette's `Middleware`: `create_app` lists the layers outermost first, and that list *is* the
order requests pass through them (`build_stack`), not a comment describing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ParamSpec, Protocol

from .asgi_types import ASGIApp

P = ParamSpec("P")


class LayerFactory(Protocol[P]):
    """A layer's class (or factory): the app it wraps, then its own arguments."""

    def __call__(self, app: ASGIApp, /, *args: P.args, **kwargs: P.kwargs) -> ASGIApp: ...


class Middleware:
    """One ASGI layer: `factory(app, *args, **kwargs)` once the app inside it is known."""

    def __init__(self, factory: LayerFactory[P], /, *args: P.args, **kwargs: P.kwargs) -> None:
        self.factory: LayerFactory[Any] = factory
        self.args = args
        self.kwargs = kwargs

    def wrap(self, app: ASGIApp) -> ASGIApp:
        return self.factory(app, *self.args, **self.kwargs)

    def __repr__(self) -> str:
        return f"Middleware({getattr(self.factory, '__name__', self.factory)!r})"


def build_stack(app: ASGIApp, layers: Sequence[Middleware]) -> ASGIApp:
    """`app` wrapped in `layers`, the first of them outermost (it sees a request first and its answer last)."""
    for layer in reversed(layers):
        app = layer.wrap(app)
    return app
