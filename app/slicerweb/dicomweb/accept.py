"""Accept header parsing (RFC 9110 §12.5.1) and DICOMweb media-type negotiation (PS3.18 §8.7).

Robust to what real clients send: quoted and unquoted parameter values (`type=application/octet-stream`
from OHIF, `type="*/*"` from dicomweb-client), whitespace around `;` and `=`, several media ranges
in one header, `q=` weights (q=0 refuses), and wildcards.

    >>> [(r.media_type, r.params, r.q) for r in parse_accept(
    ...     'application/dicom+json, multipart/related; type=application/octet-stream; transfer-syntax=*;q=0.5')]
    [('application/dicom+json', {}, 1.0), ('multipart/related',
      {'type': 'application/octet-stream', 'transfer-syntax': '*'}, 0.5)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..engine.dicom_api import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN
from ..errors import NotAcceptable

TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+/[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
MULTIPART = "multipart/related"


@dataclass(frozen=True)
class MediaRange:
    """One element of an Accept header; `params` keys are lower-case, values unquoted."""

    media_type: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    @property
    def type_param(self) -> str | None:
        value = self.params.get("type")
        return value.lower() if value is not None else None

    @property
    def transfer_syntax(self) -> str | None:
        return self.params.get("transfer-syntax")


def _split(text: str, separator: str) -> list[str]:
    """Split on `separator` outside double quotes."""
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            out.append("".join(current))
            current = []
        else:
            current.append(char)
    out.append("".join(current))
    return out


def parse_accept(header: str | None) -> list[MediaRange]:
    """Media ranges by preference: higher q first, then header order. Malformed ranges are dropped."""
    if header is None or not header.strip():
        return [MediaRange("*/*")]
    ranges: list[tuple[float, int, MediaRange]] = []
    for position, element in enumerate(_split(header, ",")):
        pieces = _split(element, ";")
        media_type = pieces[0].strip().lower()
        if not TOKEN.match(media_type):
            continue
        params: dict[str, str] = {}
        q = 1.0
        for piece in pieces[1:]:
            name, sep, value = piece.partition("=")
            name, value = name.strip().lower(), value.strip()
            if not sep or not name:
                continue
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = -1.0
            else:
                params[name] = value
        if 0 < q <= 1:
            ranges.append((q, position, MediaRange(media_type, params, q)))
    ranges.sort(key=lambda item: (-item[0], item[1]))
    return [r for _, _, r in ranges]


def _transfer_syntax(value: str | None) -> str | bool | None:
    """None (absent), '*', a UID, or False when unusable (malformed or Implicit VR LE, PS3.18 §8.7.3)."""
    if value is None or value == "*":
        return value
    if not UID.match(value) or value == IMPLICIT_VR_LITTLE_ENDIAN:
        return False
    return value


def negotiate_dicom_json(header: str | None) -> str:
    """QIDO and metadata: 'json' or 'xml' (multipart/related; type=application/dicom+xml); else 406."""
    for r in parse_accept(header):
        if r.media_type in ("application/dicom+json", "application/json", "application/*", "*/*"):
            return "json"
        if r.media_type == MULTIPART and r.type_param == "application/dicom+xml":
            return "xml"
        if r.media_type == "application/dicom+xml":
            return "xml"
    raise NotAcceptable("acceptable media types are application/dicom+json and "
                        'multipart/related; type="application/dicom+xml"')


@dataclass(frozen=True)
class InstanceChoice:
    """How to send Part-10 objects: multipart or a single body, in which transfer syntax ('*' = stored)."""

    multipart: bool
    transfer_syntax: str


def instance_choices(header: str | None, *, single: bool) -> list[InstanceChoice]:
    """WADO-RS study/series/instance retrieve: every acceptable (framing, transfer syntax), by
    preference; `single` allows a bare `application/dicom` body. 406 when there is none."""
    choices: list[InstanceChoice] = []
    for r in parse_accept(header):
        syntax = _transfer_syntax(r.transfer_syntax)
        if syntax is False:
            continue
        chosen = EXPLICIT_VR_LITTLE_ENDIAN if syntax is None else str(syntax)
        if r.media_type in ("*/*", "multipart/*") or (
                r.media_type == MULTIPART and r.type_param in (None, "application/dicom", "*/*", "application/*")):
            choices.append(InstanceChoice(True, chosen))
        elif r.media_type == "application/dicom" and single:
            choices.append(InstanceChoice(False, chosen))
    if not choices:
        raise NotAcceptable('acceptable media type: multipart/related; type="application/dicom" '
                            "(transfer-syntax=* or a UID other than Implicit VR Little Endian)")
    return list(dict.fromkeys(choices))


def negotiate_instances(header: str | None, *, single: bool) -> InstanceChoice:
    """The client's preferred acceptable choice (`instance_choices`)."""
    return instance_choices(header, single=single)[0]


@dataclass(frozen=True)
class FrameChoice:
    """A frame media type offered by the client: type ('*/*' = native) and transfer syntax."""

    media_type: str
    transfer_syntax: str | None
    multipart: bool


def frame_choices(header: str | None, *, single: bool) -> list[FrameChoice]:
    """Acceptable (media type, transfer syntax) pairs for frames or bulk data, by preference."""
    choices: list[FrameChoice] = []
    for r in parse_accept(header):
        syntax = _transfer_syntax(r.transfer_syntax)
        if syntax is False:
            continue
        ts = None if syntax is None else str(syntax)
        if r.media_type == MULTIPART:
            inner = r.type_param or "application/octet-stream"
            if inner in ("*/*", "application/*", "image/*"):
                inner = "*/*"
            if TOKEN.match(inner):
                choices.append(FrameChoice(inner, ts, True))
        elif r.media_type in ("*/*", "multipart/*"):
            choices.append(FrameChoice("*/*", ts, True))
        elif single:
            choices.append(FrameChoice(r.media_type, ts, False))
    return choices


def negotiate_rendered(header: str | None, accept_param: str | None = None) -> str:
    """Rendered and thumbnail: image/jpeg (default) or image/png; the `accept` query parameter wins."""
    for r in parse_accept(accept_param if accept_param else header):
        if r.media_type in ("image/jpeg", "image/*", "*/*"):
            return "image/jpeg"
        if r.media_type == "image/png":
            return "image/png"
    raise NotAcceptable("acceptable media types for rendered images are image/jpeg and image/png")
