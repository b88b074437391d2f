"""`Content-Encoding: gzip` for large DICOM JSON/XML answers (QIDO results, metadata), by Accept-Encoding.

Negotiation follows RFC 9110 §12.5.3: codings with q-values (`q=0` refuses one); an uncompressed
answer is acceptable unless `identity;q=0`, or `*;q=0` with no entry for identity, says otherwise;
nothing acceptable is a 406. An answer is compressed when the client accepts gzip (at least as much
as identity, when it names identity) and it is at least GZIP_THRESHOLD bytes (smaller ones gain
less than they cost), or when identity is refused. Only these text answers: DICOM objects, frames
and images are never compressed here (binary, most already compressed). Streamed: the body is
compressed GZIP_CHUNK bytes at a time in a worker thread and each piece sent as it is ready, so an
answer holds its (already built) document plus one compressed piece. Every answer that could be
compressed says `Vary: Accept-Encoding`.

BREACH (why the proxies do not compress, deploy/README.md) needs a secret in a compressed body next
to text an attacker injects through requests the victim's browser sends with its credentials. These
bodies hold no secrets (no tokens, no CSRF values) and credentials are bearer tokens, which no
other site's page can attach (CORS is closed by default, no cookies), so it does not apply here.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator

from quart import Response, request

from ..errors import NotAcceptable

GZIP_THRESHOLD = 4096
GZIP_CHUNK = 256 << 10
GZIP_LEVEL = 6  # zlib's default: about 6x smaller DICOM JSON, ~40 MB/s on one core of this machine
GZIP_WBITS = 31  # a gzip header and trailer (RFC 1952), which is what Content-Encoding: gzip means


def codings(header: str) -> dict[str, float]:
    """'gzip;q=0.5, identity;q=0' -> {'gzip': 0.5, 'identity': 0.0}; malformed q-values count as 0."""
    out: dict[str, float] = {}
    for element in header.split(","):
        name, _, params = element.partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(1.0, max(0.0, float(value.strip())))
                except ValueError:
                    q = 0.0
        out["gzip" if name == "x-gzip" else name] = q
    return out


def choose(header: str | None, size: int) -> str:
    """'gzip' or 'identity' for an answer of `size` bytes; 406 when the client accepts neither."""
    if header is None:
        return "identity"  # no Accept-Encoding: any coding is acceptable; uncompressed is what all can read
    q = codings(header)
    gzip_q = q.get("gzip", q.get("*", 0.0))
    identity_q = q.get("identity", 0.0 if q.get("*", 1.0) == 0 else 1.0)
    # Identity not listed: acceptable, but less preferred than any coding the client names.
    preferred = gzip_q >= identity_q if "identity" in q else True
    if gzip_q > 0 and (identity_q == 0 or (size >= GZIP_THRESHOLD and preferred)):
        return "gzip"
    if identity_q > 0:
        return "identity"
    raise NotAcceptable("no acceptable content coding: this answer is available as gzip or identity "
                        f"(Accept-Encoding: {header[:120]})")


async def gzip_stream(body: bytes) -> AsyncIterator[bytes]:
    """`body` gzip-compressed, a piece per GZIP_CHUNK of input (compressed in a worker thread)."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, GZIP_WBITS)
    view = memoryview(body)
    for start in range(0, len(body), GZIP_CHUNK):
        piece = await asyncio.to_thread(compressor.compress, view[start:start + GZIP_CHUNK])
        if piece:
            yield piece
    yield compressor.flush()


def text_answer(body: bytes, content_type: str, status: int = 200) -> Response:
    """A DICOM JSON or XML answer, gzip-compressed when negotiated (see the module docstring)."""
    if choose(request.headers.get("Accept-Encoding"), len(body)) == "gzip":
        response = Response(gzip_stream(body), status=status, content_type=content_type)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(body, status=status, content_type=content_type)
    response.vary.add("Accept-Encoding")
    return response
