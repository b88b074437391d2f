"""A decoded frame as an 8-bit display image (PS3.18 §8.3.5 rendered resources, PS3.4 N.2 pipeline).

Colour: RGB as decoded (YBR is decoded to RGB), PALETTE COLOR through its lookup tables (pydicom's
`apply_color_lut`), more than 8 bits scaled by Bits Stored. Greyscale: the Modality LUT (Rescale
Slope/Intercept or the Modality LUT Sequence), then the VOI: the request's `window=` if given, else the
stored Window Center/Width with its VOI LUT Function, else the stored VOI LUT Sequence, else the frame's
own range; MONOCHROME1 is inverted last so that black means the same as for MONOCHROME2.

    >>> to_display(header, array, {}, RenderParams(window=(40.0, 400.0, "linear"))).dtype
    dtype('uint8')
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, apply_voi

from ...engine.dicom_api import RenderParams
from ...engine.errors import NotRepresentable


def to_display(header: Dataset, array: np.ndarray, changes: dict[str, str | int], params: RenderParams) -> np.ndarray:
    """`array` (one decoded frame of the object `header` describes) as uint8 grey (H, W) or RGB (H, W, 3)."""
    photometric = str(changes.get("photometric_interpretation", header.get("PhotometricInterpretation", "")))
    try:
        if photometric == "PALETTE COLOR":
            rgb = apply_color_lut(array, header)
            return _scaled(rgb, 16 if rgb.dtype.itemsize > 1 else 8)
        if array.ndim == 3:
            return _scaled(array, int(header.get("BitsStored", 8) or 8))
        values = apply_modality_lut(array, header).astype(np.float64)
        out = _voi(header, values, params)
    except (ValueError, KeyError, AttributeError, IndexError, TypeError) as exc:  # contradictory LUT elements
        raise NotRepresentable(f"the frame cannot be rendered: {exc}") from exc
    return 255 - out if photometric == "MONOCHROME1" else out


def _scaled(values: np.ndarray, bits: int) -> np.ndarray:
    if values.dtype == np.uint8:
        return values
    top = float(2 ** min(bits, 32) - 1)
    return np.clip(values.astype(np.float64) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _voi(header: Dataset, values: np.ndarray, params: RenderParams) -> np.ndarray:
    if params.window is not None:
        center, width, function = params.window
        return _window(values, center, width, function)
    if "WindowCenter" in header and "WindowWidth" in header:
        function = str(header.get("VOILUTFunction", "LINEAR") or "LINEAR").lower()
        return _window(values, _first(header.WindowCenter), _first(header.WindowWidth), function)
    if "VOILUTSequence" in header:
        lut = header.VOILUTSequence[0]
        bits = int(lut.LUTDescriptor[2]) or 16
        return _scaled(apply_voi(values.astype(np.int64), header), bits)
    low, high = float(values.min()), float(values.max())
    return _window(values, (low + high) / 2, max(1.0, high - low), "linear_exact")


def _window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """PS3.3 C.11.2.1.2: LINEAR, LINEAR_EXACT and SIGMOID onto 0..1, then to 0..255."""
    if function == "sigmoid":
        scaled = 1.0 / (1.0 + np.exp(-4.0 * (values - center) / max(width, 1e-9)))
    elif function == "linear_exact":
        scaled = np.clip((values - center) / max(width, 1e-9) + 0.5, 0.0, 1.0)
    else:
        width = max(width, 1.0)
        scaled = np.clip((values - (center - 0.5)) / (width - 1 if width > 1 else 1) + 0.5, 0.0, 1.0)
    return (scaled * 255.0 + 0.5).astype(np.uint8)


def _first(value: object) -> float:
    """The first of a multi-valued Window Center/Width (several windows may be stored; the first is the default)."""
    if isinstance(value, MultiValue | list | tuple):
        return float(value[0])
    return float(value)  # type: ignore[arg-type]  # DSfloat/IS/str from pydicom
