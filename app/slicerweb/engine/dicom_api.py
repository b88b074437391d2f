"""DicomService: the DICOM database behind `/dicom`, named after PS3.18's transactions.

The method names are dicomweb-client's (`search_for_studies`, `retrieve_series_metadata`,
`retrieve_instance_frames`, `store_instances`), so the client, the HTTP layer and the engine read
alike. Values crossing the seam are the frozen dataclasses below, DICOM JSON objects (PS3.18 F.2)
as plain dicts, or bytes; nothing here knows HTTP.

URLs: stored DICOM JSON (metadata) carries `BulkDataURI`s that begin with `BASE_URL_PLACEHOLDER`;
the HTTP layer replaces it with the public `.../dicom` root of the request, so one cached document
serves every proxy and host name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO, Literal, Protocol

BASE_URL_PLACEHOLDER = "{{slicerweb.dicomweb.root}}"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
ANY_TRANSFER_SYNTAX = "*"

Level = Literal["study", "series", "instance"]
DicomJson = dict[str, dict[str, Any]]
"""One DICOM JSON object: {"0020000D": {"vr": "UI", "Value": ["1.2..."]}, ...}."""


@dataclass(frozen=True)
class Match:
    """One QIDO matching key (PS3.4 C.2.2.2), already parsed.

    kind: "single" (exact), "wildcard" (`*`/`?` in `values[0]`), "range" (`values` = (low, high),
    either may be ""), "list" (any of `values`), "fuzzy" (PN token-prefix matching).
    path: the sequences `tag` sits in, outermost first (PS3.4 C.2.2.2.6 sequence matching; `keyword`
    is then the dotted key, e.g. "RequestAttributeSequence.ScheduledProcedureStepID").
    """

    tag: int
    keyword: str
    kind: Literal["single", "wildcard", "range", "list", "fuzzy"]
    values: tuple[str, ...]
    path: tuple[int, ...] = ()


@dataclass(frozen=True)
class SearchQuery:
    """A QIDO-RS search at `level`, scoped by the UIDs in the path."""

    level: Level
    study_uid: str | None = None
    series_uid: str | None = None
    matches: tuple[Match, ...] = ()
    include: frozenset[int] = frozenset()
    include_all: bool = False
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class SearchResult:
    """One page of matches (DICOM JSON, without RetrieveURL) and how many matched in total."""

    records: list[DicomJson]
    total: int
    offset: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredInstance:
    """Where a stored instance's Part-10 file is and what it holds."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax: str
    path: str
    size: int


@dataclass(frozen=True)
class Frame:
    """One frame's pixel data and how it is encoded."""

    number: int
    data: bytes
    transfer_syntax: str
    media_type: str


@dataclass(frozen=True)
class RenderParams:
    """PS3.18 §8.3.5 rendering parameters (already validated)."""

    media_type: str = "image/jpeg"
    quality: int = 90
    viewport: tuple[int, int] | None = None
    window: tuple[float, float, str] | None = None  # centre, width, function (linear|sigmoid|...)


@dataclass(frozen=True)
class StowPart:
    """One part of a STOW-RS request: its media type and its bytes (a seekable file)."""

    content_type: str
    data: BinaryIO


@dataclass(frozen=True)
class StoreOutcome:
    """The fate of one part: stored (failure_reason None) or not, with a human-readable reason."""

    sop_class_uid: str
    sop_instance_uid: str
    study_uid: str
    series_uid: str
    failure_reason: int | None = None
    detail: str = ""
    already_stored: bool = False


@dataclass(frozen=True)
class StoreReport:
    """What `store_instances` did, part by part."""

    outcomes: list[StoreOutcome] = field(default_factory=list)

    @property
    def stored(self) -> list[StoreOutcome]:
        return [o for o in self.outcomes if o.failure_reason is None]

    @property
    def failed(self) -> list[StoreOutcome]:
        return [o for o in self.outcomes if o.failure_reason is not None]


@dataclass(frozen=True)
class ImportReport:
    """`dicom import DIR`: files indexed, already present, skipped as not DICOM, refused as damaged
    (truncated, pixel data contradicting the header; `refusals` lists (path, reason)), and failed."""

    imported: int
    already_present: int
    skipped: int
    failed: int
    refused: int = 0
    refusals: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DeleteReport:
    """What a delete removed: the UIDs asked for and how many studies, series, instances and file
    bytes went (a study or series is removed once its last instance is)."""

    study_uid: str
    series_uid: str | None
    sop_uid: str | None
    studies: int
    series: int
    instances: int
    bytes: int

    def as_json(self) -> dict[str, Any]:
        return {"study": self.study_uid, "series": self.series_uid, "instance": self.sop_uid,
                "deleted": {"studies": self.studies, "series": self.series, "instances": self.instances,
                            "bytes": self.bytes}}


CheckKind = Literal["missing_file", "orphan_file", "size_mismatch", "hash_mismatch", "unparsable_file",
                    "missing_json"]
CHECK_KINDS: tuple[CheckKind, ...] = ("missing_file", "orphan_file", "size_mismatch", "hash_mismatch",
                                      "unparsable_file", "missing_json")


@dataclass(frozen=True)
class CheckFinding:
    """One disagreement between the index and the stored files; `path` is relative to the DICOM root."""

    kind: CheckKind
    path: str
    sop_uid: str
    detail: str
    repaired: bool = False


@dataclass(frozen=True)
class CheckReport:
    """`dicom check`: what was compared, every finding (in path order), and what `repair` fixed."""

    instances: int
    files: int
    in_flight: int
    findings: tuple[CheckFinding, ...]
    repaired: bool

    def counts(self) -> dict[str, int]:
        return {kind: sum(f.kind == kind for f in self.findings) for kind in CHECK_KINDS}

    @property
    def damaged(self) -> bool:
        """Whether anything was found that is still damaged (not repaired)."""
        return any(not f.repaired for f in self.findings)

    def as_json(self, examples: int) -> dict[str, Any]:
        """Counts per kind and the first `examples` findings of each kind."""
        shown: list[dict[str, Any]] = []
        for kind in CHECK_KINDS:
            shown.extend({"kind": f.kind, "path": f.path, "sop_uid": f.sop_uid, "detail": f.detail,
                          "repaired": f.repaired} for f in [f for f in self.findings if f.kind == kind][:examples])
        return {"instances": self.instances, "files": self.files, "in_flight": self.in_flight,
                "damaged": self.damaged, "repair": self.repaired, "counts": self.counts(),
                "repaired": sum(f.repaired for f in self.findings), "examples": shown}


# PS3.18 Table 10.5.3-2 / PS3.4 Annex B failure reasons used by STOW-RS.
FAILURE_PROCESSING = 0x0110          # processing failure
FAILURE_DUPLICATE = 0x0111           # duplicate SOP instance (different content, same UID)
FAILURE_CANNOT_UNDERSTAND = 0xC000   # not a DICOM Part-10 object, or its encoding is cut short
FAILURE_DATASET_MISMATCH = 0xA900    # the data set contradicts itself or the archive (geometry, UIDs)
FAILURE_STUDY_MISMATCH = FAILURE_DATASET_MISMATCH  # does not belong to the study in the URL
FAILURE_OUT_OF_RESOURCES = 0xA700


class DicomService(Protocol):
    """The DICOM database: PS3.18 search, retrieve and store over indexed Part-10 files.

    Errors: `engine.errors.NotFound` for an unknown study/series/instance/frame, `Invalid` for bad
    input, `Unsupported` for a transfer syntax or media type the engine cannot produce.
    """

    async def count_studies(self) -> int:
        """Number of studies in the database."""
        ...

    async def search_for_studies(self, query: SearchQuery) -> SearchResult:
        """QIDO-RS study search: PS3.18 Table 10.6.3-3 attributes plus includefields, one page."""
        ...

    async def search_for_series(self, query: SearchQuery) -> SearchResult:
        """QIDO-RS series search (Table 10.6.3-4), optionally within `query.study_uid`."""
        ...

    async def search_for_instances(self, query: SearchQuery) -> SearchResult:
        """QIDO-RS instance search (Table 10.6.3-5), optionally within a study or series."""
        ...

    async def retrieve_study(self, study_uid: str) -> list[StoredInstance]:
        """The instances of a study in a stable order (series, then instance number)."""
        ...

    async def retrieve_series(self, study_uid: str, series_uid: str) -> list[StoredInstance]:
        """The instances of a series in instance-number order."""
        ...

    async def retrieve_instance(self, study_uid: str, series_uid: str, sop_uid: str) -> StoredInstance:
        """One instance."""
        ...

    async def locate_instance(self, sop_uid: str) -> StoredInstance:
        """The instance with this SOP Instance UID, wherever it is (WADO-URI's objectUID)."""
        ...

    async def read_instance(self, instance: StoredInstance, transfer_syntax: str) -> bytes:
        """The Part-10 bytes of `instance` in `transfer_syntax` (transcoded if needed), or Unsupported."""
        ...

    async def retrieve_study_metadata(self, study_uid: str) -> bytes:
        """A JSON array (UTF-8) of the DICOM JSON of every instance, bulk data as BulkDataURI."""
        ...

    async def retrieve_series_metadata(self, study_uid: str, series_uid: str) -> bytes:
        """As `retrieve_study_metadata`, for one series; cached until the series changes."""
        ...

    async def retrieve_instance_metadata(self, study_uid: str, series_uid: str, sop_uid: str) -> bytes:
        """A one-element JSON array with the instance's DICOM JSON."""
        ...

    async def retrieve_instance_frames(self, study_uid: str, series_uid: str, sop_uid: str,
                                       frames: list[int], transfer_syntax: str | None) -> list[Frame]:
        """Frames (1-based) in `transfer_syntax`: None = uncompressed Explicit VR LE, "*" = as stored."""
        ...

    async def retrieve_instance_rendered(self, study_uid: str, series_uid: str, sop_uid: str,
                                         frame: int, params: RenderParams) -> bytes:
        """One frame rendered as a consumer image (JPEG/PNG) with windowing and viewport applied."""
        ...

    async def representative_instance(self, study_uid: str, series_uid: str | None) -> StoredInstance:
        """The instance a study or series thumbnail shows (the middle one of the first series)."""
        ...

    async def retrieve_bulkdata(self, study_uid: str, series_uid: str, sop_uid: str, tag: int) -> bytes:
        """The value of a bulk data element (PixelData: as stored, encapsulated or not)."""
        ...

    async def store_instances(self, parts: list[StowPart], study_uid: str | None = None) -> StoreReport:
        """Store Part-10 parts atomically (file fsynced and renamed, then indexed in one transaction).

        Duplicates: a SOP instance already stored with identical bytes succeeds without change
        (`already_stored`); one with different bytes fails with FAILURE_DUPLICATE and the stored
        copy is kept. Parts of another study than `study_uid` fail with FAILURE_STUDY_MISMATCH.
        """
        ...

    async def delete(self, study_uid: str, series_uid: str | None = None,
                     sop_uid: str | None = None) -> DeleteReport:
        """Remove a study, series or instance: index rows and files together, crash-safe (the rows go
        in one transaction that journals the files; a crash before the files are gone is finished by
        start-up recovery). NotFound when nothing matches."""
        ...

    async def check(self, repair: bool = False) -> CheckReport:
        """Compare the index with the stored files (`CheckKind`); read-only unless `repair`, which
        re-indexes orphan files and drops the rows of missing ones."""
        ...
