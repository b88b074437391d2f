"""Request body limits per route, from the policy (413 JSON beyond them).

Routes that take uploads (STOW-RS, volume and file uploads) are marked with `@upload`; exec has its
own small limit; everything else gets `limits.max_body_bytes`. A declared Content-Length over the
limit is refused before the body is read; a chunked body stops at the limit as it streams in
(body_pacing.PacedBody counts every byte received).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from quart import current_app, request
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

from .body_pacing import PacedBody
from .policy import Policy

# Peak memory one request may add to the server beyond the volume it creates (documented in
# policies/README.md, measured by tests/test_request_memory.py): body chunks in flight, one STOW
# spool (dicomweb/multipart.SPOOL_BYTES), one batch of frames, decoder pieces, Python overhead.
# A request that creates a volume (POST /slicer/volume, /slicer/mrml loads) adds the voxels, at most
# `limits.max_volume_bytes`.
REQUEST_WORKING_BYTES = 32 << 20

F = TypeVar("F", bound=Callable[..., object])
ATTRIBUTE = "slicerweb_body_limit"


def upload(view: F) -> F:
    """Mark a view as accepting large uploads (limits.upload_max_body_bytes)."""
    setattr(view, ATTRIBUTE, "upload")
    return view


def limit_for(policy: Policy, kind: str | None, action: str | None) -> int:
    if kind == "upload":
        return policy.limits.upload_max_body_bytes
    if action == "exec":
        return policy.limits.exec_max_body_bytes
    return policy.limits.max_body_bytes


def largest_limit(policy: Policy) -> int:
    """The app-wide ceiling (Quart's MAX_CONTENT_LENGTH); routes lower it in `apply_body_limit`."""
    return max(policy.limits.max_body_bytes, policy.limits.upload_max_body_bytes,
               policy.limits.exec_max_body_bytes)


def apply_body_limit(policy: Policy, action: str | None) -> None:
    """Set this request's body limit (called from the app's before-request hook).

    The request was created (before routing) with the app-wide ceiling; the route's limit is set on
    the request (form parsing) and on its body (`PacedBody.limit_to`, which counts every byte that
    arrives): a declared Content-Length over the limit is refused here, and a streamed body stops at it.
    """
    view = current_app.view_functions.get(request.endpoint or "")
    limit = limit_for(policy, getattr(view, ATTRIBUTE, None), action)
    request.max_content_length = limit
    request.body_timeout = policy.limits.body_timeout
    body = request.body
    if isinstance(body, PacedBody):  # always, in an app from create_app (body_pacing.pace_request_bodies)
        body.limit_to(limit)
        if body.too_large:
            raise RequestEntityTooLarge()
    if (request.content_length or 0) > limit:
        raise RequestEntityTooLarge()


REFUSED_DRAIN_BYTES = 64 * 1024  # a refused (unauthenticated) caller cannot make us read more than this
ADMITTED_DRAIN_BYTES = 64 << 20  # an admitted upload answered early with an error
DRAIN_SECONDS = 30.0


async def drain_body(limit: int) -> None:
    """Read and discard what is left of this request's body when it declares at most `limit` bytes.

    HTTP/1.1 cannot reuse a connection whose request body was left unread, and a proxy still writing
    that body into a connection we close answers 502 (Caddy: "broken pipe") instead of our error.
    Chunks are discarded as they arrive (Quart's Body keeps nothing it has yielded); a larger or
    chunked body is left unread and the connection closes (see keepalive.py).
    """
    length = request.content_length
    if length is None or not 0 < length <= limit:
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _chunk in request.body:
                pass


async def body_chunks() -> AsyncIterator[bytes]:
    """This request's body as it arrives, within `limits.body_timeout` for the whole body (408 beyond).

    Quart enforces the body timeout only when the body is awaited whole (`get_data`); streaming
    readers (STOW, volume uploads) read through here so a body trickled in a byte at a time ends
    with the same 408 JSON answer at the same limit.
    """
    chunks = request.body.__aiter__()
    deadline = asyncio.get_running_loop().time() + float(request.body_timeout or 1e9)
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await chunks.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise RequestTimeout(f"the request body did not arrive within {request.body_timeout} s "
                                 "(limits.body_timeout)") from None
        yield chunk
