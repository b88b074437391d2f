"""`middleware.py`: the list order is the order a request meets the layers (first = outermost)."""

from __future__ import annotations

from slicerweb.middleware import Middleware, build_stack


class Tag:
    """A layer that notes its name on the way in and on the way out."""

    def __init__(self, app, name: str, *, seen: list[str]) -> None:
        self.app, self.name, self.seen = app, name, seen

    async def __call__(self, scope, receive, send) -> None:
        self.seen.append(f"in:{self.name}")
        await self.app(scope, receive, send)
        self.seen.append(f"out:{self.name}")


async def test_the_first_layer_is_outermost():
    seen: list[str] = []

    async def inner(scope, receive, send) -> None:
        seen.append("app")

    stack = build_stack(inner, [Middleware(Tag, "a", seen=seen), Middleware(Tag, "b", seen=seen)])
    await stack({"type": "http"}, None, None)
    assert seen == ["in:a", "in:b", "app", "out:b", "out:a"]
    assert repr(Middleware(Tag, "a", seen=seen)) == "Middleware('Tag')"
