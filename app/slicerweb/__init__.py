"""SlicerWeb: a security-hardened web server for 3D Slicer (Slicer REST API, DICOMweb, static pages)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["__version__", "create_app"]


def __getattr__(name: str) -> Any:
    """`create_app` imported on first use: `slicerweb dicom import` and the worker processes it
    spawns need neither Quart nor Hypercorn (about a second of start-up on a busy machine)."""
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
