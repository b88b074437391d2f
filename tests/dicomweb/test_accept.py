"""Accept parsing and negotiation (PS3.18 §8.7, RFC 9110 §12.5.1) with the headers real clients send.

Variants from Orthanc's test_accept_negotiation, OHIF (unquoted type=, several media types in one
header) and dicomweb-client (type="*/*"): whitespace tolerated, quoted == unquoted, q=0 refuses,
whitespace inside quotes is a different (unknown) type.
"""

from __future__ import annotations

import pytest

from slicerweb.dicomweb.accept import (
    frame_choices,
    negotiate_dicom_json,
    negotiate_instances,
    negotiate_rendered,
    parse_accept,
)
from slicerweb.errors import NotAcceptable

EXPLICIT = "1.2.840.10008.1.2.1"


def test_parse_orders_by_q_then_position_and_unquotes() -> None:
    ranges = parse_accept('image/png;q=0.2, multipart/related;   type =  "application/octet-stream" ; '
                          "transfer-syntax=*, application/dicom+json;q=0.9, text/plain;q=0")
    assert [r.media_type for r in ranges] == ["multipart/related", "application/dicom+json", "image/png"]
    assert ranges[0].params == {"type": "application/octet-stream", "transfer-syntax": "*"}


def test_missing_or_empty_header_means_anything() -> None:
    assert [r.media_type for r in parse_accept(None)] == ["*/*"]
    assert [r.media_type for r in parse_accept("  ")] == ["*/*"]


@pytest.mark.parametrize(("header", "expected"), [
    ("application/dicom+json, application/json", "json"),
    ("*/*", "json"),
    ('multipart/related; type="application/dicom+xml"', "xml"),
    ("multipart/related; type=application/dicom+xml", "xml"),
])
def test_search_media_types(header: str, expected: str) -> None:
    assert negotiate_dicom_json(header) == expected


def test_search_refuses_other_types() -> None:
    with pytest.raises(NotAcceptable):
        negotiate_dicom_json("image/png")


@pytest.mark.parametrize(("header", "multipart", "syntax"), [
    ('multipart/related; type="application/dicom"; transfer-syntax=*', True, "*"),
    ("multipart/related; type=application/dicom", True, EXPLICIT),
    ("multipart/related", True, EXPLICIT),
    ('multipart/related; type="application/dicom"; transfer-syntax="1.2.840.10008.1.2.4.50"', True,
     "1.2.840.10008.1.2.4.50"),
    ("application/dicom", False, EXPLICIT),
    ('multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2, */*;q=0.1', True, EXPLICIT),
])
def test_instance_negotiation(header: str, multipart: bool, syntax: str) -> None:
    choice = negotiate_instances(header, single=True)
    assert (choice.multipart, choice.transfer_syntax) == (multipart, syntax)


@pytest.mark.parametrize("header", [
    'multipart/related; type="  application/dicom"',
    'multipart/related; type="application/dicom"; transfer-syntax=nope',
    'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2',  # Implicit VR: §8.7.3
    "multipart/related; type=application/dicom; q=0",
])
def test_instance_negotiation_refuses(header: str) -> None:
    with pytest.raises(NotAcceptable):
        negotiate_instances(header, single=True)


def test_frame_choices_from_real_clients() -> None:
    (python,) = frame_choices('multipart/related; type="*/*"', single=True)
    assert (python.media_type, python.transfer_syntax, python.multipart) == ("*/*", None, True)
    ohif = frame_choices("application/dicom+json, multipart/related; type=application/octet-stream; "
                         "transfer-syntax=*", single=True)
    assert [(c.media_type, c.transfer_syntax) for c in ohif if c.multipart] == [("application/octet-stream", "*")]


def test_rendered_defaults_to_jpeg_and_accept_parameter_wins() -> None:
    assert negotiate_rendered("*/*") == "image/jpeg"
    assert negotiate_rendered("image/png") == "image/png"
    assert negotiate_rendered("image/png", "image/jpeg") == "image/jpeg"
    with pytest.raises(NotAcceptable):
        negotiate_rendered("application/pdf")
