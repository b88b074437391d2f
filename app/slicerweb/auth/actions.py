"""Which action each route performs, declared on the route, defaulting by family and method.

    @bp.route("/sampledata")
    @requires("slicer_write")   # a GET that changes the scene
    async def sampledata() -> Response: ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])
ATTRIBUTE = "slicerweb_action"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def requires(action: str) -> Callable[[F], F]:
    """Declare the action a view performs (overrides the per-method default)."""

    def mark(view: F) -> F:
        setattr(view, ATTRIBUTE, action)
        return view

    return mark


def default_action(family: str, method: str) -> str:
    """static -> static; others: <family>_read for safe methods, <family>_write otherwise."""
    if family in ("static", "admin"):
        return family
    return f"{family}_read" if method in READ_METHODS else f"{family}_write"


def action_of(view: Callable[..., object] | None, family: str, method: str) -> str:
    return getattr(view, ATTRIBUTE, None) or default_action(family, method)
