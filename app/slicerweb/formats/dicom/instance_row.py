"""What retrieval needs about one stored instance: the index row both engines hand to `pixels`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceRow:
    """What retrieval needs about one stored instance."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class: str
    transfer_syntax: str
    path: str
    size: int
    rows: int | None
    columns: int | None
    bits_allocated: int | None
    samples_per_pixel: int | None
    number_of_frames: int | None
    pixel_offset: int | None
    pixel_length: int | None
