"""QIDO-RS (PS3.18 §10.6): search_for_studies / series / instances over the engine's index.

Answers: 200 with a DICOM JSON array (or multipart XML), 204 when nothing matches (§8.3.4.4.1),
one folded `Warning: 299` header (warning_header.py) when results were truncated ("There are N
additional results that can be requested") or keys were ignored, 400 naming a bad parameter,
406 for an unsupported Accept.
"""

from __future__ import annotations

import json

from quart import Blueprint, Response, request

from ..engine.dicom_api import DicomJson, Level, SearchQuery, SearchResult
from ..request_context import current
from ..services import Services
from . import multipart
from .accept import negotiate_dicom_json
from .compression import text_answer
from .dicomjson import to_native_xml, with_retrieve_url
from .query import parse_search
from .warning_header import folded_warning

WARN_AGENT = "slicerweb"
DEFAULT_PORTS = {"http": 80, "https": 443}


def public_root(services: Services) -> str:
    """The public URL of /dicom for this request (trusted proxy headers and public_url honoured).

    dicomweb-client sends `Host` without the port; on a direct connection (no trusted proxy, no
    `server.public_url`) the port the request arrived on is added back, so RetrieveURL and
    BulkDataURI stay usable by that client.
    """
    origin = current().origin
    base = origin.base_url
    server = request.scope.get("server")
    peer = request.scope.get("client")
    direct = not services.policy.server.public_url and not services.trust.trusts(peer[0] if peer else "")
    if (direct and server and ":" not in origin.host.rsplit("]", 1)[-1]
            and server[1] not in (None, DEFAULT_PORTS.get(origin.scheme))):
        base = f"{origin.scheme}://{origin.host}:{server[1]}"
    return f"{base}/dicom"


def query_args() -> dict[str, list[str]]:
    """Every query key with all its values, in order (percent-decoded by Quart)."""
    return {key: request.args.getlist(key) for key in request.args}


def add_warnings(response: Response, warnings: list[str]) -> None:
    """Set the response's one `Warning` header (bounded; none when there is nothing to say)."""
    value = folded_warning(warnings, WARN_AGENT)
    if value is not None:
        response.headers["Warning"] = value


def dicom_json_response(body: bytes | list[DicomJson], status: int = 200) -> Response:
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return text_answer(data, "application/dicom+json", status)


def xml_response(records: list[DicomJson]) -> Response:
    boundary = multipart.new_boundary()
    body = multipart.encode(boundary, [("application/dicom+xml", to_native_xml(r)) for r in records])
    return text_answer(body, multipart.content_type(boundary, "application/dicom+xml"))


def register(bp: Blueprint, services: Services) -> None:
    """Add the QIDO-RS routes to `bp`."""
    dicom = services.engine.dicom
    limits = services.policy.limits
    # Instance searches list a series: a larger default than study/series lists (Google: 100 / 1000).
    max_limit = limits.qido_max_limit
    defaults = {"study": limits.qido_default_limit, "series": limits.qido_default_limit,
                "instance": min(limits.qido_instance_default_limit, max_limit)}

    async def run(query: SearchQuery) -> SearchResult:
        if query.level == "study":
            return await dicom.search_for_studies(query)
        if query.level == "series":
            return await dicom.search_for_series(query)
        return await dicom.search_for_instances(query)

    async def search(level: Level, study: str | None = None, series: str | None = None) -> Response:
        wire = negotiate_dicom_json(request.headers.get("Accept"))
        parsed = parse_search(query_args(), level, limits=(defaults[level], max_limit), study_uid=study,
                              series_uid=series)
        result = await run(parsed.query)
        warnings = [*parsed.warnings, *result.warnings]
        remaining = result.total - result.offset - len(result.records)
        if remaining > 0:
            warnings.append(f"There are {remaining} additional results that can be requested")
        if not result.records:
            response = Response(b"", status=204)
        else:
            records = with_retrieve_url(result.records, public_root(services), level)
            response = dicom_json_response(records) if wire == "json" else xml_response(records)
        add_warnings(response, warnings)
        return response

    @bp.get("/studies")
    async def search_for_studies() -> Response:
        return await search("study")

    @bp.get("/series")
    async def search_for_series() -> Response:
        return await search("series")

    @bp.get("/instances")
    async def search_for_instances() -> Response:
        return await search("instance")

    @bp.get("/studies/<study>/series")
    async def search_for_study_series(study: str) -> Response:
        return await search("series", study)

    @bp.get("/studies/<study>/instances")
    async def search_for_study_instances(study: str) -> Response:
        return await search("instance", study)

    @bp.get("/studies/<study>/series/<series>/instances")
    async def search_for_series_instances(study: str, series: str) -> Response:
        return await search("instance", study, series)
