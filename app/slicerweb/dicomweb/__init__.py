"""DICOMweb at /dicom (PS3.18): QIDO-RS, WADO-RS, WADO-URI, STOW-RS. Skeleton for the foundation."""

from __future__ import annotations

from quart import Blueprint, Response

from ..services import Services


def create_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("dicomweb", __name__, url_prefix="/dicom")
    engine = services.engine

    @bp.get("/studies")
    async def search_for_studies() -> Response:
        if not await engine.dicom.count_studies():
            return Response(b"", status=204)
        return Response(b"[]", content_type="application/dicom+json")

    return bp
