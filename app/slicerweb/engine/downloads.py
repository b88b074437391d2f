"""Downloading a URL into a directory for loading (`POST /slicer/mrml?url=`), for both engines.

Named like Slicer's SampleData cache does (`<basename>-<uuid hex><extension>`), so a later reload
finds the same file. The size is capped; a failed or oversized download leaves no file behind.
Runs in a worker thread, never on the event loop or Slicer's main thread.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from .errors import Invalid, TooLarge

CHUNK = 1 << 20
COMPOUND_SUFFIXES = (".seg.nrrd", ".mrk.json", ".nii.gz")


def download(url: str, directory: Path, max_bytes: int) -> Path:
    """Fetch an http(s) `url` into `directory`; return the file's path."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise Invalid(f"only http and https URLs can be downloaded, not '{parsed.scheme}:'")
    name = Path(urllib.parse.unquote(parsed.path)).name or "download"
    suffix = next((s for s in COMPOUND_SUFFIXES if name.lower().endswith(s)), Path(name).suffix)
    stem = name[: len(name) - len(suffix)] if suffix else name
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{stem}-{uuid.uuid4().hex}{suffix}"
    request = urllib.request.Request(url, headers={"User-Agent": "SlicerWeb"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response, open(target, "wb") as out:
            copied = 0
            while chunk := response.read(CHUNK):
                copied += len(chunk)
                if copied > max_bytes:
                    raise TooLarge(f"download of {url} exceeds {max_bytes} bytes")
                out.write(chunk)
    except (OSError, ValueError) as exc:
        target.unlink(missing_ok=True)
        raise Invalid(f"cannot download {url}: {exc}") from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target
