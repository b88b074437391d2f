"""The Engine Protocol: the only door from HTTP code into application state.

An engine is a facade of four services, each a Protocol of its own module so that the families
evolve independently:

- `system`   (this module): application identity and lifecycle (`/slicer/system`).
- `features` (this module): runtime feature overrides (exec toggle with expiry), shared by every
             instance behind the proxy, so it lives in the data directory, not in process memory.
- `scene`    (`scene_api.py`): MRML-style scene: nodes, volumes, markups, transforms, rendering, exec.
- `dicom`    (`dicom_api.py`): the DICOM database: PS3.18 search / retrieve / store.

Implementations: `headless.HeadlessEngine` (embedded default) and `slicer.SlicerEngine` (inside
3D Slicer, every call marshalled onto the Qt main thread). Values crossing the seam are frozen
dataclasses or plain JSON-able data, never HTTP objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .dicom_api import DicomService
from .health_api import IndexStatistics, Readiness
from .scene_api import SceneService


@dataclass(frozen=True)
class VersionInfo:
    """What `GET /slicer/system/version` reports: the WebServer module's 19 keys plus `engine`.

    slicerio's liveness probe requires `applicationName`.
    """

    applicationName: str
    applicationDisplayName: str
    applicationVersion: str
    releaseType: str
    repositoryUrl: str
    repositoryBranch: str
    revision: str
    majorVersion: int
    minorVersion: int
    arch: str
    os: str
    isCustomMainApplication: bool
    mainApplicationName: str
    mainApplicationRepositoryUrl: str
    mainApplicationRepositoryRevision: str
    mainApplicationRevision: str
    mainApplicationMajorVersion: int
    mainApplicationMinorVersion: int
    mainApplicationPatchVersion: int
    engine: str


@dataclass(frozen=True)
class FeatureOverride:
    """A runtime change of a feature flag; `expires_at` (epoch seconds) None means until changed."""

    name: str
    enabled: bool
    expires_at: float | None
    changed_by: str
    changed_at: float


class SystemService(Protocol):
    """Application identity and lifecycle."""

    async def version(self) -> VersionInfo:
        """Version information of the application behind the API."""
        ...

    async def request_shutdown(self) -> None:
        """Ask the application (headless: the server) to exit gracefully after answering."""
        ...


class FeatureStore(Protocol):
    """Runtime feature overrides, persisted where every instance sees them."""

    async def overrides(self, now: float) -> dict[str, FeatureOverride]:
        """Overrides in force at `now` (expired ones are left out)."""
        ...

    async def expire(self, now: float) -> list[FeatureOverride]:
        """Remove the overrides whose time is up at `now` and return them (each to one caller only)."""
        ...

    async def set_override(self, override: FeatureOverride) -> FeatureOverride | None:
        """Store `override`; return the one it replaced (if still in force)."""
        ...

    async def clear_override(self, name: str) -> FeatureOverride | None:
        """Remove any override of `name`; return it."""
        ...


@runtime_checkable
class Engine(Protocol):
    """Everything the HTTP layer may ask of application state."""

    # Read-only members, so that an engine may hold a more specific implementation of each service.
    @property
    def name(self) -> str: ...
    @property
    def system(self) -> SystemService: ...
    @property
    def features(self) -> FeatureStore: ...
    @property
    def scene(self) -> SceneService: ...
    @property
    def dicom(self) -> DicomService: ...

    async def start(self) -> None:
        """Open databases, load demo content if asked; called once before serving."""
        ...

    async def close(self) -> None:
        """Release resources; called once after serving."""
        ...

    async def readiness(self) -> Readiness:
        """Whether the engine can serve now: started, index reachable, storage writable (cheap checks)."""
        ...

    async def index_statistics(self) -> IndexStatistics:
        """Studies, series, instances and stored bytes of the DICOM index (cheap queries)."""
        ...

    def queue_depth(self) -> int | None:
        """Calls waiting for the engine's main thread (Slicer); None for an engine without one."""
        ...
