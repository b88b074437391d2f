"""/slicer/sampledata?name=MRHead: load a built-in sample data set (a GET that changes the scene)."""

from __future__ import annotations

from quart import Blueprint, Response

from ..auth.actions import requires
from ..errors import BadRequest
from ..services import Services
from .params import arg, text


def register(bp: Blueprint, services: Services) -> None:
    scene = services.engine.scene

    @bp.get("/sampledata")
    @requires("slicer_write")
    async def sampledata() -> Response:
        name = arg("name")
        if not name:
            raise BadRequest("sampledata name was not specified (e.g. ?name=MRHead; available: "
                             + ", ".join(await scene.sample_names()) + ")")
        await scene.load_sample(name)
        return text(f"Sample data {name} loaded")
