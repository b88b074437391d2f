"""What the WADO-RS handlers share: the app's Services and the rooted-metadata cache.

`wado.register` builds one `Wado` per app and binds it to each module-level handler, so handlers
reach nothing process-wide and each can be called (and tested) alone.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from ..engine.dicom_api import DicomService
from ..request_context import request_id_of, request_scope
from ..services import Services
from .dicomjson import with_root


class RootedDocuments:
    """Remembers the last few (document, public root) substitutions: warm metadata is a lookup."""

    def __init__(self, entries: int = 32) -> None:
        self._items: OrderedDict[tuple[int, str], tuple[bytes, bytes]] = OrderedDict()
        self._entries = entries

    def get(self, document: bytes, root: str) -> bytes:
        key = (id(document), root)
        hit = self._items.get(key)
        if hit is not None and hit[0] is document:
            self._items.move_to_end(key)
            return hit[1]
        value = with_root(document, root)
        self._items[key] = (document, value)
        while len(self._items) > self._entries:
            self._items.popitem(last=False)
        return value


@dataclass(frozen=True)
class Wado:
    """One app's WADO-RS state, bound to every handler by `wado.register`."""

    services: Services
    rooted: RootedDocuments = field(default_factory=RootedDocuments)

    @property
    def dicom(self) -> DicomService:
        return self.services.engine.dicom


def request_id() -> str:
    """The current request's id (access_log.py), for log lines written after the handler returned."""
    return request_id_of(request_scope())
