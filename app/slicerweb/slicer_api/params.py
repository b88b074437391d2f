"""Query parameters the way the WebServer module reads them, plus the typed values built from them.

The original parses with `urllib.parse.parse_qs`: blank values are dropped, the first of repeated
keys wins, and values are stripped. `node_filter` builds the `/mrml` selection
(`?id=` wins over `?class=` and `?name=`).
"""

from __future__ import annotations

import math

from quart import Response, request

from ..engine.scene_api import NodeFilter
from ..errors import BadRequest

SELECTION_KEYS = ("id", "name", "class")


def arg(name: str) -> str | None:
    """The first non-blank value of query parameter `name`, stripped; None when absent or blank."""
    for value in request.args.getlist(name):
        if value.strip():
            return value.strip()
    return None


def node_filter() -> NodeFilter:
    return NodeFilter(id=arg("id"), name=arg("name"), class_name=arg("class"))


def other_args(*exclude: str) -> dict[str, str]:
    """Every non-blank parameter not in `exclude` (load/save properties, passed on as strings)."""
    return {key: value for key in request.args
            if key not in exclude and (value := arg(key)) is not None}


def floats(name: str, count: int | None = None) -> list[float] | None:
    """`?name=1,2,3` as finite floats (count checked when given); 400 on anything else."""
    raw = arg(name)
    if raw is None:
        return None
    try:
        values = [float(v) for v in raw.replace(" ", ",").split(",") if v]
    except ValueError:
        raise BadRequest(f"{name} must be comma-separated numbers, got {raw!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise BadRequest(f"{name} must be finite numbers")
    if count is not None and len(values) != count:
        raise BadRequest(f"{name} needs exactly {count} numbers, got {len(values)}")
    return values


def number(name: str, default: float) -> float:
    values = floats(name, 1)
    return default if values is None else values[0]


def text(body: str, status: int = 200) -> Response:
    """A plain-text reply (the module's user messages: 'Set matrix', 'Sample data ... loaded')."""
    return Response(body, status=status, content_type="text/plain; charset=utf-8")
