"""Domain errors raised by engines. They know nothing of HTTP: `slicerweb.errors` maps them."""

from __future__ import annotations


class EngineError(Exception):
    """Base class: a request the engine could not satisfy. The message is safe to show a client."""


class NotFound(EngineError):
    """The named node, study, series, instance or frame does not exist."""


class Invalid(EngineError):
    """The input is malformed or inconsistent (bad NRRD, bad DICOM, bad parameter value)."""


class Conflict(EngineError):
    """The request conflicts with current state (e.g. a duplicate SOP Instance with other content)."""


class Unsupported(EngineError):
    """Well-formed, but this engine cannot do it (unsupported media type, transfer syntax, file type)."""


class NotRepresentable(Unsupported):
    """A stored object cannot be produced in the representation asked for (no codec for its pixels, no
    encoder for the target, damaged pixel data, or a conversion beyond the policy's size limit): 406."""


class Forbidden(EngineError):
    """The engine refuses the operation by configuration (e.g. a local path outside allowed roots)."""


class TooLarge(EngineError):
    """Input larger than a configured limit."""


class Unavailable(EngineError):
    """The engine cannot serve this now (e.g. its database is damaged and must be repaired, or unreachable).

    `retry_after`: seconds after which a retry may succeed (a restarting database); None when only an
    operator can help (a damaged index)."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class IndexDamaged(Unavailable):
    """A database index failed its checks (`problem` says how); rebuilding it from the stored files repairs it."""

    def __init__(self, path: object, problem: str) -> None:
        # The message goes to clients (503): no server path in it; `path` is for the operator's CLI line.
        super().__init__(f"the DICOM index is {problem}; the operator must stop the server and run "
                         "'slicerweb dicom reindex'")
        self.path = path
        self.problem = problem


class InsufficientStorage(EngineError):
    """The disk is full (ENOSPC) or the quota is used up (EDQUOT); nothing was half-written."""


class RemoteFailure(RuntimeError):
    """An unexpected exception raised in the process that holds the state (Slicer's main thread, or the worker
    owning the scene), carried back across the bridge by its type name and text. Not a domain error: a 500
    (for /slicer/exec, the user's code failed there, and `kind` names the exception as it was raised)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(kind, message)
        self.kind, self.message = kind, message

    def __str__(self) -> str:
        return self.message
