"""DICOMweb at /dicom (PS3.18): QIDO-RS, WADO-RS, WADO-URI and STOW-RS over `engine.dicom`.

Route modules: `qido` (search), `wado` (retrieve, metadata, frames, bulk data), `rendered`
(rendered and thumbnail), `wado_uri` (`GET /dicom?requestType=WADO...`), `stow` (store), `delete`
(DELETE of studies, series, instances). Parsing
helpers: `query` (QIDO parameters), `accept` (media-type negotiation), `multipart`, `dicomjson`.
"""

from __future__ import annotations

from quart import Blueprint

from ..services import Services
from . import delete, qido, rendered, stow, wado, wado_uri


def create_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("dicomweb", __name__, url_prefix="/dicom")
    for module in (qido, wado, rendered, wado_uri, stow, delete):
        module.register(bp, services)
    return bp
