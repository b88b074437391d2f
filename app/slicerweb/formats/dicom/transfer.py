"""Transfer syntaxes: which are native, what a frame of each is labelled, what can be converted to what.

The one table of compressed-frame media types (PS3.18 §8.7.3.3.2, Table 8.7.3-2), used by the engines
to label the frames they return and by WADO to negotiate; and `can_convert`, the capability answer
WADO asks before it sends a status line. It answers True only for what `transcode.py` then does:
decoding through pydicom's pixel-data plugins, encoding through the lossless encoders listed below.
"""

from __future__ import annotations

from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.encoders.base import get_encoder

from ...engine.dicom_api import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN

BIG_ENDIAN = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
UNCOMPRESSED = frozenset({IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN})
"""Little-endian raw pixel data at a byte offset in the stored file."""
NATIVE = UNCOMPRESSED | {BIG_ENDIAN, DEFLATED}
"""Raw (not encapsulated) pixel data; frames of all of them are served as Explicit VR Little Endian."""
NATIVE_TARGETS = frozenset({IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, DEFLATED})
"""Native syntaxes a conversion may produce (big endian is retired and PS3.18 forbids it on the web)."""
RLE = "1.2.840.10008.1.2.5"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_LS_NEAR_LOSSLESS = "1.2.840.10008.1.2.4.81"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
JPEG_2000 = "1.2.840.10008.1.2.4.91"
ENCODED_LOSSLESSLY = frozenset({RLE, JPEG_LS_LOSSLESS, JPEG_LS_NEAR_LOSSLESS, JPEG_2000_LOSSLESS, JPEG_2000})
"""Compressed targets we encode, always losslessly: a near-lossless JPEG-LS stream with error 0 and a
reversible JPEG 2000 stream are valid in .81 and .91, so a conversion never loses information."""
LOSSY = {"1.2.840.10008.1.2.4.50": "ISO_10918_1", "1.2.840.10008.1.2.4.51": "ISO_10918_1"}
"""Syntaxes whose pixels are always lossy, and PS3.3 C.7.6.1.1.5's method name for them."""
OCTET_STREAM = "application/octet-stream"
_JPEG = "image/jpeg"
COMPRESSED_MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": _JPEG, "1.2.840.10008.1.2.4.51": _JPEG, "1.2.840.10008.1.2.4.57": _JPEG,
    "1.2.840.10008.1.2.4.70": _JPEG, JPEG_LS_LOSSLESS: "image/jls", JPEG_LS_NEAR_LOSSLESS: "image/jls",
    JPEG_2000_LOSSLESS: "image/jp2", JPEG_2000: "image/jp2",
    "1.2.840.10008.1.2.4.201": "image/jphc", "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc", RLE: "image/dicom-rle",
}


def native_transfer_syntax(stored: str) -> str:
    """The syntax frames are served in without conversion (raw pixels are labelled explicit little endian)."""
    return EXPLICIT_VR_LITTLE_ENDIAN if stored in NATIVE else stored


def frame_media_type(transfer_syntax: str) -> str:
    """The media type of one frame in `transfer_syntax` (`application/octet-stream` for raw pixels)."""
    return COMPRESSED_MEDIA_TYPES.get(transfer_syntax, OCTET_STREAM)


def can_decode(transfer_syntax: str) -> bool:
    """Whether pixels stored in `transfer_syntax` can be decoded (natively or by an installed plugin)."""
    if transfer_syntax in NATIVE:
        return True
    try:
        return bool(get_decoder(transfer_syntax).is_available)
    except NotImplementedError:  # no decoder is registered for this syntax at all
        return False


def can_encode(transfer_syntax: str) -> bool:
    """Whether a conversion can produce `transfer_syntax` (native targets, or an installed lossless encoder)."""
    if transfer_syntax in NATIVE_TARGETS:
        return True
    if transfer_syntax not in ENCODED_LOSSLESSLY:
        return False
    try:
        return bool(get_encoder(transfer_syntax).is_available)
    except NotImplementedError:
        return False


def can_convert(stored: str, target: str) -> bool:
    """Whether an object stored in `stored` can be sent in `target` (the same syntax always can).

    The one answer WADO asks before it sends a status line (PS3.18 §8.7.3: 406 when nothing acceptable
    exists). The conversion can still fail on a damaged object or past the policy's size limit (406).
    """
    if target == stored:
        return True
    return can_encode(target) and can_decode(stored)
