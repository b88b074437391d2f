"""QIDO matching keys evaluated on stored DICOM JSON (PS3.4 C.2.2.2), for what the index has no column for.

Two cases: an attribute the index does not hold (`ImageType=DERIVED*`), and sequence matching
(`RequestAttributeSequence.ScheduledProcedureStepID=SPS1`, C.2.2.2.6: a sequence matches when one
of its items matches every key given inside it, so keys under the same sequence must hold in the
same item). The rules are the index's (engine/headless/dicomdb/search.py): single value (any of a
multi-valued attribute's values), `*`/`?` wildcards, DA/TM/DT ranges, lists, PN case-insensitive
and, with fuzzy matching, token-prefix. An attribute absent or empty matches nothing.

    >>> key = Match(0x00400009, "RequestAttributeSequence.ScheduledProcedureStepID", "single", ("SPS1",),
    ...             path=(0x00400275,))
    >>> matches({"00400275": {"vr": "SQ", "Value": [{"00400009": {"vr": "SH", "Value": ["SPS1"]}}]}}, [key])
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from ...engine.dicom_api import DicomJson, Match
from .ingest import fold_name, name_tokens

Keyed = tuple[tuple[int, ...], Match]  # (sequence path still to descend, key)


def matches(document: DicomJson | dict[str, Any], keys: Sequence[Match]) -> bool:
    """Whether the DICOM JSON object `document` satisfies every key."""
    return _matches(document, [(m.path, m) for m in keys])


def _matches(dataset: dict[str, Any], keys: list[Keyed]) -> bool:
    nested: dict[int, list[Keyed]] = {}
    for path, key in keys:
        if path:
            nested.setdefault(path[0], []).append((path[1:], key))
        elif not element_matches(dataset.get(f"{key.tag:08X}"), key):
            return False
    for tag, inner in nested.items():
        items = (dataset.get(f"{tag:08X}") or {}).get("Value") or []
        if not any(isinstance(item, dict) and _matches(item, inner) for item in items):
            return False
    return True


def element_matches(element: dict[str, Any] | None, key: Match) -> bool:
    """One DICOM JSON element against one key (any of its values may match)."""
    values = [v for v in (element or {}).get("Value") or () if v is not None]
    if not values:
        return False
    vr = str((element or {}).get("vr", ""))
    if vr == "PN":
        names = [_name_text(v) for v in values if isinstance(v, dict)]
        return any(_name_matches(name, key) for name in names)
    if vr in ("SQ", "OB", "OW", "OD", "OF", "OL", "OV", "UN"):
        return False
    texts = [_text(v) for v in values]
    if key.kind == "range":
        low, high = key.values
        return any(text and (not low or text >= _low(vr, low)) and (not high or text <= _high(vr, high))
                   for text in texts)
    if key.kind == "wildcard":
        pattern = _wildcard(key.values[0])
        return any(pattern.fullmatch(text) for text in texts)
    if isinstance(values[0], int | float) and not isinstance(values[0], bool):
        wanted = {_number(v) for v in key.values}
        return any(_number(text) in wanted for text in texts)
    return any(text in key.values for text in texts)


def _name_matches(name: str, key: Match) -> bool:
    if key.kind == "wildcard":
        return _wildcard(key.values[0].casefold()).fullmatch(name.casefold()) is not None
    if key.kind == "fuzzy":
        tokens = name_tokens(name)
        wanted = [t for t in re.split(r"[\s^,]+", key.values[0].casefold()) if t]
        return all(f" {t}" in tokens for t in wanted)
    return fold_name(name) in {fold_name(v) for v in key.values}


def _name_text(value: dict[str, Any]) -> str:
    """A DICOM JSON person name as the index stores it: 'Alphabetic=Ideographic=Phonetic'."""
    return "=".join(str(value.get(group, "")) for group in ("Alphabetic", "Ideographic", "Phonetic")).rstrip("=")


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _low(vr: str, low: str) -> str:
    return (low.replace(":", "") + "000000")[:6] if vr == "TM" else low


def _high(vr: str, high: str) -> str:
    if vr == "TM":
        return (high.replace(":", "") + "999999")[:6] + ".999999"
    if vr == "DT":
        return high + "99999999999999.999999"[len(high):]
    return high


@lru_cache(maxsize=256)
def _wildcard(value: str) -> re.Pattern[str]:
    """DICOM `*`/`?` -> an anchored regular expression (everything else literal)."""
    pattern = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value)
    return re.compile(pattern, re.DOTALL)
