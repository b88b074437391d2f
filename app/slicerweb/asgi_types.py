"""ASGI type aliases for the outer layers (the JSON error they answer with is in json_error.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, TypeAlias, cast

if TYPE_CHECKING:
    from werkzeug.datastructures import Headers

# Request headers by lower-case name: Quart's `request.headers`, or a dict the ASGI layers build.
HeaderMap: TypeAlias = "Mapping[str, str] | Headers"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def open_scope(scope: object) -> Scope:
    """`scope` as the open mapping ASGI makes it (servers and middleware may add keys, as ours add
    `slicerweb.*`); Quart types `request.scope` as hypercorn's closed TypedDicts."""
    return cast(Scope, scope)
