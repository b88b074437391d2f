"""/slicer views as images: `slice`, `threeD`, `screenshot`, `timeimage`, and `threeDGraphics` (glTF).

Same paths and parameter names as the WebServer module. Differences, all fixes of its bugs:
`offset=0` and `scrollTo=0` are values, not "unset"; `size` is honoured (`N` for NxN or `WxH`, at most
4096); a parameter that cannot be parsed is a 400 JSON error instead of being silently dropped; an
unknown view or volume is a 404 JSON error; `threeDGraphics?format=gltf` works. Parameters the original
parsed and ignored (`mode`, `roll`, `panX`, ...) are still accepted and ignored. SlicerWeb extras:
`window`, `level`, `volume` (id or name), `interpolation` (linear|nearest) and `labels` on `slice`,
`rendering` (mip|composite) on `threeD`.

The images show viewer state, so they are `Cache-Control: no-store`. Changing what a view shows (its
orientation or position) is a read: it changes no scene data, as scrolling a viewer does not.
"""

from __future__ import annotations

import math
import time
from typing import TypeVar

from quart import Blueprint, Response, jsonify, request

from ..engine.render_api import (
    INTERPOLATIONS,
    MAX_IMAGE_SIZE,
    RENDER_MODES,
    SLICE_VIEWS,
    SliceRequest,
    ThreeDRequest,
)
from ..errors import BadRequest, NotFound
from ..services import Services
from .timeimage import DEFAULT_COLOUR, parse_colour, time_image_png

ORIENTATIONS = ("axial", "sagittal", "coronal")
Option = TypeVar("Option", bound=str)
AXIS_LETTERS = "rlaspi"
TRUE, FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def arg(name: str) -> str | None:
    """A query parameter, stripped; blank counts as absent (parse_qs drops blanks, as the original)."""
    value = request.args.get(name)
    return value.strip() or None if value is not None else None


def number(name: str, *, low: float | None = None, high: float | None = None) -> float | None:
    text = arg(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"{name} must be a number, not {text!r}") from None
    if not math.isfinite(value) or (low is not None and value < low) or (high is not None and value > high):
        raise BadRequest(f"{name} must be a finite number in [{low}, {high}], not {text!r}")
    return value


def size_arg() -> tuple[int, int] | None:
    """`size=512` (square) or `size=640x480`, each side 1..MAX_IMAGE_SIZE."""
    text = arg("size")
    if text is None:
        return None
    parts = text.lower().split("x")
    try:
        sides = [int(p) for p in parts]
    except ValueError:
        sides = []
    if len(sides) == 1:
        sides *= 2
    if len(sides) != 2 or not all(1 <= s <= MAX_IMAGE_SIZE for s in sides):
        raise BadRequest(f"size must be N or WxH with sides 1..{MAX_IMAGE_SIZE}, not {text!r}")
    return sides[0], sides[1]


def flag(name: str) -> bool | None:
    text = arg(name)
    if text is None:
        return None
    if text.lower() not in TRUE + FALSE:
        raise BadRequest(f"{name} must be true or false, not {text!r}")
    return text.lower() in TRUE


def choice(name: str, options: tuple[Option, ...]) -> Option | None:
    """The query argument `name`, case-insensitively one of `options` (400 otherwise), or None."""
    text = arg(name)
    if text is None:
        return None
    for option in options:
        if option == text.lower():
            return option
    raise BadRequest(f"{name} must be one of {', '.join(options)}, not {text!r}")


def slice_view(name: str, value: str) -> str:
    if value.lower() not in SLICE_VIEWS:
        raise NotFound(f"no slice view {value!r} ({name} must be one of {', '.join(SLICE_VIEWS)})")
    return value.lower()


def png(data: bytes) -> Response:
    return Response(data, content_type="image/png", headers={"Cache-Control": "no-store"})


def register(bp: Blueprint, services: Services) -> None:
    scene = services.engine.scene

    @bp.get("/slice")
    async def slice_image() -> Response:
        copy_from = arg("copySliceGeometryFrom")
        window = number("window", low=1e-6)
        slice_request = SliceRequest(
            view=slice_view("view", arg("view") or "red"),
            orientation=choice("orientation", ORIENTATIONS),
            scroll_to=number("scrollTo", low=0.0, high=1.0),
            offset=number("offset"),
            copy_geometry_from=slice_view("copySliceGeometryFrom", copy_from) if copy_from else None,
            size=size_arg(),
            window=window,
            level=number("level"),
            volume=arg("volume") or arg("id"),
            interpolation=choice("interpolation", INTERPOLATIONS) or "linear",
            labels=bool(flag("labels")),
        )
        return png(await scene.render_slice(slice_request))

    @bp.get("/threeD")
    async def threed_image() -> Response:
        axis = arg("lookFromAxis")
        if axis is not None and axis[0].lower() not in AXIS_LETTERS:
            raise BadRequest(f"lookFromAxis must be one of L, R, A, P, S, I (or left, anterior, ...), not {axis!r}")
        mode = choice("rendering", RENDER_MODES) or "mip"
        return png(await scene.render_threed(ThreeDRequest(axis, size_arg(), mode)))

    @bp.get("/screenshot")
    async def screenshot() -> Response:
        return png(await scene.screenshot())

    @bp.get("/threeDGraphics")
    async def threed_graphics() -> Response:
        text = arg("widgetIndex") or "0"
        if not text.isdigit():
            raise BadRequest(f"widgetIndex must be a non-negative integer, not {text!r}")
        format_ = arg("format")
        if format_ is not None and format_.lower() != "gltf":
            raise BadRequest(f"format {format_} not supported (glTF only)")
        box_visible = (arg("boxVisible") or "false").lower() != "false"  # the original's rule
        document = await scene.export_gltf(int(text), box_visible)
        response = jsonify(document)
        response.headers["Content-Type"] = "application/json"
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/timeimage")
    async def timeimage() -> Response:
        text = arg("color") or DEFAULT_COLOUR
        colour = parse_colour(text)
        if colour is None:
            raise BadRequest(f"color must be 3 or 6 hex digits (e.g. 333 or ff8800), not {text!r}")
        return png(time_image_png(colour, time.time()))
