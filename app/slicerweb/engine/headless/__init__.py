"""The headless engine: an in-process scene and an SQLite DICOM index (the embedded default)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import HeadlessEngine

__all__ = ["HeadlessEngine"]


def __getattr__(name: str) -> Any:
    """`HeadlessEngine` imported on first use: `slicerweb dicom import` needs only `dicomdb`."""
    if name == "HeadlessEngine":
        from .engine import HeadlessEngine

        return HeadlessEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
