"""Why a DICOM object does not read, in plain words: the failure reason STOW and import report.

pydicom's exception texts name its internals (`save_as() cannot be used ...`, struct format strings,
file offsets): a sender needs to know what is wrong with the object, not how our library tripped.

    >>> plain_reason(EOFError("Unexpected end of file. Read 3 bytes of 8 expected starting at position 0x1f6"))
    'it ends in the middle of an element: the object is truncated'
"""

from __future__ import annotations

import struct

from pydicom.errors import BytesLengthException, InvalidDicomError

REASONS: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    ((InvalidDicomError,), "it has no DICOM preamble and File Meta Information, or they are damaged"),
    ((EOFError, BytesLengthException, struct.error), "it ends in the middle of an element: the object is truncated"),
    ((UnicodeError, LookupError), "a text element is not in the character set the object declares"),
    ((OSError,), "it could not be read"),
    ((ValueError, TypeError, AttributeError, NotImplementedError, KeyError, IndexError),
     "an element's length or value cannot be decoded"),
)


def plain_reason(exc: BaseException) -> str:
    """What `exc` (raised while reading an object) says about the object, without library internals."""
    for kinds, reason in REASONS:
        if isinstance(exc, kinds):
            return reason
    return "its encoding cannot be read"
