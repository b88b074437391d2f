"""Downloading a URL into a directory for loading (`POST /slicer/mrml?url=`), for both engines.

Named like Slicer's SampleData cache does (`<basename>-<uuid hex><extension>`), so a later reload
finds the same file. The size is capped; a failed or oversized download leaves no file behind.
Redirects are followed only to http(s) URLs that the same prefix allow-list admits (an allowed
server cannot bounce the request to an internal address). No proxy from the environment.
Runs in a worker thread, never on the event loop or Slicer's main thread.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from .errors import Forbidden, Invalid, TooLarge

CHUNK = 1 << 20
COMPOUND_SUFFIXES = (".seg.nrrd", ".mrk.json", ".nii.gz")


class CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to an http(s) URL starting with one of `prefixes` (None: any http(s))."""

    def __init__(self, prefixes: tuple[str, ...] | None) -> None:
        self.prefixes = prefixes

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        allowed = urllib.parse.urlparse(newurl).scheme in ("http", "https") and (
            self.prefixes is None or newurl.startswith(self.prefixes))
        if not allowed:
            raise Forbidden(f"redirect to {newurl} is not allowed (server.url_load_prefixes)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def opener(prefixes: tuple[str, ...] | None, *handlers: urllib.request.BaseHandler) -> urllib.request.OpenerDirector:
    """A urllib opener with no environment proxies and checked redirects."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), CheckedRedirects(prefixes), *handlers)


def download(url: str, directory: Path, max_bytes: int, prefixes: tuple[str, ...] | None = None) -> Path:
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
        with opener(prefixes).open(request, timeout=60) as response, open(target, "wb") as out:
            copied = 0
            while chunk := response.read(CHUNK):
                copied += len(chunk)
                if copied > max_bytes:
                    raise TooLarge(f"download of {url} exceeds {max_bytes} bytes")
                out.write(chunk)
    except (OSError, ValueError) as exc:  # urllib's HTTPError and URLError are OSErrors
        target.unlink(missing_ok=True)
        raise Invalid(f"cannot download {url}: {exc}") from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target
