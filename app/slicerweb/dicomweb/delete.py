"""Deleting stored data: `DELETE /dicom/studies/{study}[/series/{series}[/instances/{instance}]]`.

PS3.18 defines no DELETE; the vendors do (Orthanc's REST API, dcm4chee-arc's
`DELETE .../rs/studies/{uid}`), and so do we, closed twice over: the policy flag
`features.dicomweb_delete` (off by default, no runtime switch) and the `dicomweb_delete` action's
scopes (`dicomweb.delete`). Answers: 200 JSON with what went (UIDs and counts of studies, series,
instances and bytes), as Orthanc answers its DELETE with a JSON body rather than dcm4chee's bare 204,
because a script or the console should see what it removed; 404 JSON for an unknown UID; 403 JSON
without the scope or with the flag off. Audited with who and what (`dicom.delete`), durable before the
answer (the privileged-act hook waits for it).
"""

from __future__ import annotations

from quart import Blueprint, Response, jsonify

from ..auth.actions import requires
from ..errors import Forbidden
from ..request_context import current
from ..services import Services


def register(bp: Blueprint, services: Services) -> None:
    """Add the DELETE routes to `bp`."""
    dicom = services.engine.dicom

    async def remove(study: str, series: str | None = None, instance: str | None = None) -> Response:
        if not services.policy.features.dicomweb_delete:
            raise Forbidden("deleting DICOM data is disabled on this server (policy features.dicomweb_delete)")
        report = await dicom.delete(study, series, instance)
        context = current()
        services.audit.record("dicom.delete", subject=context.subject, client=context.client,
                              request_id=context.request_id, via="http", **report.as_json())
        return jsonify({"success": True, **report.as_json()})

    @bp.delete("/studies/<study>")
    @requires("dicomweb_delete")
    async def delete_study(study: str) -> Response:
        return await remove(study)

    @bp.delete("/studies/<study>/series/<series>")
    @requires("dicomweb_delete")
    async def delete_series(study: str, series: str) -> Response:
        return await remove(study, series)

    @bp.delete("/studies/<study>/series/<series>/instances/<instance>")
    @requires("dicomweb_delete")
    async def delete_instance(study: str, series: str, instance: str) -> Response:
        return await remove(study, series, instance)
