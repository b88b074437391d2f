"""Which server directories a caller may read and write, and node names from file names.

Shared by both engines: every path, including a `.nhdr`'s detached data file, is resolved (symlinks
followed) and checked before it is opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import Forbidden


@dataclass(frozen=True)
class FileAccess:
    """Directories the caller may read from and write to; `roots=None` means unrestricted."""

    roots: tuple[str, ...] | None = None

    def check(self, path: Path) -> Path:
        """The resolved path, or Forbidden when it lies outside every root."""
        resolved = Path(os.path.realpath(path))
        if self.roots is None:
            return resolved
        for root in self.roots:
            base = Path(os.path.realpath(root))
            if resolved == base or base in resolved.parents:
                return resolved
        raise Forbidden(f"'{path}' is outside the directories this server may access (server.file_roots)")


def base_name(path: Path) -> str:
    """Node name from a file name, as Slicer derives it: `MRHead.nrrd` -> `MRHead`."""
    name = path.name
    for suffix in (".seg.nrrd", ".seg.nhdr", ".mrk.json", ".nii.gz", ".nrrd", ".nhdr", ".json", ".fcsv",
                   ".tfm", ".txt", ".h5"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem
