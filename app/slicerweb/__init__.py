"""SlicerWeb: a security-hardened web server for 3D Slicer (Slicer REST API, DICOMweb, static pages)."""

from __future__ import annotations

from .app import create_app
from .version import __version__

__all__ = ["__version__", "create_app"]
