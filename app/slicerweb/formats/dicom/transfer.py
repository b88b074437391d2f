"""Transfer syntaxes: which are uncompressed, what a frame of each is labelled, what serves it as stored.

The one table of compressed-frame media types (PS3.18 §8.7.3.3.2, Table 8.7.3-2), used by the engines
to label the frames they return and by WADO to negotiate.
"""

from __future__ import annotations

from pydicom.pixels import get_decoder

from ...engine.dicom_api import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN

UNCOMPRESSED = frozenset({IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN})
OCTET_STREAM = "application/octet-stream"
_JPEG = "image/jpeg"
COMPRESSED_MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": _JPEG, "1.2.840.10008.1.2.4.51": _JPEG, "1.2.840.10008.1.2.4.57": _JPEG,
    "1.2.840.10008.1.2.4.70": _JPEG, "1.2.840.10008.1.2.4.80": "image/jls", "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2", "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.201": "image/jphc", "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc", "1.2.840.10008.1.2.5": "image/dicom-rle",
}


def native_transfer_syntax(stored: str) -> str:
    """The syntax frames are served in without conversion (little-endian raw is labelled explicit)."""
    return EXPLICIT_VR_LITTLE_ENDIAN if stored in UNCOMPRESSED else stored


def frame_media_type(transfer_syntax: str) -> str:
    """The media type of one frame in `transfer_syntax` (`application/octet-stream` for raw pixels)."""
    return COMPRESSED_MEDIA_TYPES.get(transfer_syntax, OCTET_STREAM)


def can_decode(transfer_syntax: str) -> bool:
    """Whether an installed pydicom pixel-data plugin can decode pixels stored in `transfer_syntax`."""
    if transfer_syntax in UNCOMPRESSED:
        return True
    try:
        return bool(get_decoder(transfer_syntax).is_available)
    except NotImplementedError:  # no decoder is registered for this syntax at all
        return False


def can_convert(stored: str, target: str) -> bool:
    """Whether an object stored in `stored` can be sent in `target` (the same syntax always can).

    The one answer WADO asks before it sends a status line (PS3.18 §8.7.3: 406 when nothing acceptable exists).
    """
    if target == stored or (stored in UNCOMPRESSED and target in UNCOMPRESSED):
        return True
    return target in UNCOMPRESSED and can_decode(stored)
