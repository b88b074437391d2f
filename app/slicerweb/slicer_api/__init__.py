"""The Slicer REST API at /slicer: one module per URL family, each adding routes to one blueprint."""

from __future__ import annotations

from quart import Blueprint

from ..services import Services
from . import (
    dicomweb_access,
    execute,
    gui,
    markups,
    mrml,
    openapi_json,
    sampledata,
    segmentations,
    system,
    tracking,
    transforms,
    views,
    volumes,
)


def create_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("slicer", __name__, url_prefix="/slicer")
    for module in (system, execute, mrml, volumes, transforms, markups, segmentations, sampledata, tracking, gui,
                   dicomweb_access, views, openapi_json):
        module.register(bp, services)
    return bp
