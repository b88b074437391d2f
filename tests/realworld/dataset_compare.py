"""Element-by-element comparison of two DICOM data sets, as the real-world tests need it.

`differences(sent, received, allowed)` lists every element that is missing, extra or different
(recursing into sequences), ignoring group lengths (gggg,0000: PS3.18 F.2.2, PS3.5 7.2 make them
optional) and the tags in `allowed`. Values are compared as pydicom decodes them, so the same data in
another byte order or VR encoding compares equal; Pixel Data is compared by the caller (decoded).
"""

from __future__ import annotations

import warnings

from pydicom import DataElement, Dataset
from pydicom.tag import BaseTag, Tag

PIXEL_DATA = Tag(0x7FE0, 0x0010)
TRAILING_PADDING = Tag(0xFFFC, 0xFFFC)
# What a change of transfer syntax may change besides the pixel encoding (PS3.5 8.2, PS3.3 C.7.6.1.1.5):
# YBR -> RGB on decompression, the planar layout of the decoded pixels, the lossy-compression history.
CONVERSION_TIED = frozenset(Tag(t) for t in (
    (0x0028, 0x0004), (0x0028, 0x0006), (0x0028, 0x2110), (0x0028, 0x2112), (0x0028, 0x2114), PIXEL_DATA,
))


def differences(sent: Dataset, received: Dataset, allowed: frozenset[BaseTag] = frozenset()) -> list[str]:
    """Every difference between two data sets, one line each (empty when they agree)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # decoding real-world values (over-long UIDs...) warns; both sides alike
        return _differences(sent, received, allowed, "")


def _differences(sent: Dataset, received: Dataset, allowed: frozenset[BaseTag], path: str) -> list[str]:
    out: list[str] = []
    ignored = allowed | {TRAILING_PADDING}
    sent_tags = {e.tag for e in sent if e.tag.element != 0 and e.tag not in ignored}
    received_tags = {e.tag for e in received if e.tag.element != 0 and e.tag not in ignored}
    for tag in sorted(sent_tags - received_tags):
        out.append(f"{path}{tag} {sent[tag].keyword or 'private'}: missing")
    for tag in sorted(received_tags - sent_tags):
        out.append(f"{path}{tag} {received[tag].keyword or 'private'}: not sent")
    for tag in sorted(sent_tags & received_tags):
        out.extend(_element_differences(sent[tag], received[tag], allowed, path))
    return out


def _element_differences(a: DataElement, b: DataElement, allowed: frozenset[BaseTag], path: str) -> list[str]:
    where = f"{path}{a.tag} {a.keyword or 'private'}"
    if a.VR == "SQ" or b.VR == "SQ":
        if a.VR != b.VR or len(a.value) != len(b.value):
            return [f"{where}: sequence of {len(a.value)} items became {b.VR} of {len(b.value)}"]
        return [line for i, (x, y) in enumerate(zip(a.value, b.value, strict=True))
                for line in _differences(x, y, allowed, f"{where}[{i}].")]
    if _same_value(a.value, b.value):
        return []
    return [f"{where}: {_short(a.value)} became {_short(b.value)}"]


def _same_value(a: object, b: object) -> bool:
    if a == b:
        return True
    # An empty value may be read as "" or None depending on the VR's type.
    return a in ("", None, b"", []) and b in ("", None, b"", [])


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."
