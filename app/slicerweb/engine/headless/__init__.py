"""The headless engine: an in-process scene and an SQLite DICOM index (the embedded default)."""

from __future__ import annotations

from .engine import HeadlessEngine

__all__ = ["HeadlessEngine"]
