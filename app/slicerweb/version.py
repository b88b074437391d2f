"""The package version (its own module so that every layer can import it without cycles)."""

from __future__ import annotations

__version__ = "0.1.0"
