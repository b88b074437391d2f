"""Parse a VTK/MRML `PrintSelf` text (`str(node)`) into nested JSON, as the WebServer module does.

The rules of the original's `/mrml/properties`, kept exactly because clients depend on the shape:
the first line (class name and address) is skipped; indentation makes groups; a line without a
value (`Segments:` or a bare name) opens a group; `key: value` becomes a typed value:

    (none)               -> key left out
    true / on            -> True          false / off -> False
    (1, 2, 3) or [1 2 3] -> [1, 2, 3]     (floats when the text has a '.')
    1, 2 or 1 2          -> [1, 2]        (bare lists of more than one item)
    3 / 2.5              -> 3 / 2.5       anything else stays a string

    vtkMRMLSegmentationNode (0x55d0)          {"ID": "vtkMRMLSegmentationNode1",
      ID: vtkMRMLSegmentationNode1             "Segmentation": {"Segments": {
      Segmentation:                      ->       "Segment_1": {"Name": "liver", "Color": [0.9, 0.4, 0.3]}}}}
        Segments:
          Segment_1:
            Name: liver
            Color: (0.9, 0.4, 0.3)
"""

from __future__ import annotations

import re
from typing import Any

_OMIT = object()


def _number(text: str) -> int | float | None:
    try:
        return float(text) if "." in text or "e" in text.lower() else int(text)
    except ValueError:
        return None


def parse_value(text: str) -> Any:
    """One value by the original's rules (`_OMIT` for `(none)`)."""
    text = text.strip()
    if text == "(none)":
        return _OMIT
    lowered = text.lower()
    if lowered in ("true", "on"):
        return True
    if lowered in ("false", "off"):
        return False
    bracketed = (text.startswith("(") and text.endswith(")")) or (text.startswith("[") and text.endswith("]"))
    inner = text[1:-1] if bracketed else text
    items = [item for item in re.split(r"[,\s]+", inner.strip()) if item]
    if bracketed or len(items) > 1:
        numbers = [n for n in (_number(item) for item in items) if n is not None]
        if items and len(numbers) == len(items):
            as_float = "." in inner
            return [float(n) if as_float else n for n in numbers]
        if bracketed:
            return text
    single = _number(text)
    return single if single is not None else text


def parse_print_self(text: str) -> dict[str, Any]:
    """Nested properties of one PrintSelf text (the first line is skipped)."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        while len(stack) > 1 and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1]
        key, colon, value = line.strip().partition(":")
        key = key.strip()
        if not colon or not value.strip():
            group: dict[str, Any] = {}
            parent[key] = group
            stack.append((indent, group))
            continue
        parsed = parse_value(value)
        if parsed is not _OMIT:
            parent[key] = parsed
    return root
