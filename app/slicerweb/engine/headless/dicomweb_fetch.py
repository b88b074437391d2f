"""Fetch a study from a DICOMweb server (WADO-RS "retrieve study") for `accessDICOMwebStudy`.

One request, `GET {root}/studies/{uid}` with `Accept: multipart/related; type="application/dicom"`
and the caller's bearer token, verified against the system CAs or the given CA bundle; no proxy from
the environment. The multipart body is split into Part-10 payloads (RFC 2046):

    --b\r\nContent-Type: application/dicom\r\n\r\n<DICM...>\r\n--b\r\n...\r\n--b--
"""

from __future__ import annotations

import ssl
import urllib.error
import urllib.parse
import urllib.request

from ..downloads import opener
from ..errors import Forbidden, Invalid, NotFound, TooLarge
from ..scene_api import DicomWebSource

ACCEPT = 'multipart/related; type="application/dicom"'
CHUNK = 1 << 20


def boundary_of(content_type: str) -> str:
    """The `boundary` parameter of a multipart/related Content-Type."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/related":
        raise Invalid(f"the DICOMweb server answered {kind.strip() or 'no content type'}, not multipart/related")
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"')
    raise Invalid("the multipart answer has no boundary")


def split_parts(body: bytes, boundary: str) -> list[bytes]:
    """The payloads of a multipart body (headers dropped)."""
    delimiter = b"--" + boundary.encode("latin-1")
    pieces = body.split(delimiter)
    parts = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break
        _head, separator, payload = piece.partition(b"\r\n\r\n")
        if not separator:
            raise Invalid("a multipart part has no header/body separator")
        parts.append(payload[:-2] if payload.endswith(b"\r\n") else payload)
    return parts


def fetch_study(source: DicomWebSource, max_bytes: int) -> list[bytes]:
    """The Part-10 instances of the study (as the server sends them)."""
    url = f"{source.base_url}/studies/{urllib.parse.quote(source.study_uid, safe='')}"
    headers = {"Accept": ACCEPT, "User-Agent": "SlicerWeb"}
    if source.access_token:
        headers["Authorization"] = f"Bearer {source.access_token}"
    handlers: list[urllib.request.BaseHandler] = []
    if url.startswith("https:"):
        context = ssl.create_default_context(cafile=source.ca_file or None)
        handlers.append(urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(url, headers=headers)
    try:
        with opener(source.allowed_prefixes, *handlers).open(request, timeout=120) as response:
            boundary = boundary_of(response.headers.get("Content-Type", ""))
            body = bytearray()
            while chunk := response.read(CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise TooLarge(f"the study is larger than {max_bytes} bytes")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise NotFound(f"study {source.study_uid} not found at {source.base_url}") from None
        if exc.code in (401, 403):
            raise Forbidden(f"the DICOMweb server refused access ({exc.code}); check the access token") from None
        raise Invalid(f"the DICOMweb server answered {exc.code} for {url}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise Invalid(f"cannot reach the DICOMweb server {source.base_url}: {exc}") from None
    return split_parts(bytes(body), boundary)
