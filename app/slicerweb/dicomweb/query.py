"""QIDO-RS query parameters (PS3.18 §8.3.4) -> SearchQuery, or 400 naming the bad parameter.

Keys are keywords or 8-hex tags; values arrive percent-decoded. Matching kinds by VR: UI and CS
take lists separated by `,` or `\\` (OHIF joins StudyInstanceUIDs with `\\`), DA/TM/DT take ranges
`A-B`, `-B`, `A-`, text VRs take `*`/`?` wildcards, PN is case-insensitive and, with
`fuzzymatching=true`, token-prefix matched. `includefield` may be repeated and/or comma-separated.

    >>> parse_search(MultiDict([("PatientName", "doe*"), ("includefield", "00081030,Modality"),
    ...                         ("limit", "10")]), "study", limits=(100, 1000)).query.matches
    (Match(tag=1048592, keyword='PatientName', kind='wildcard', values=('doe*',)),)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from ..engine.dicom_api import Level, Match, SearchQuery
from ..errors import BadRequest

HEX_TAG = re.compile(r"^[0-9A-Fa-f]{8}$")
LIST_SEPARATORS = re.compile(r"[,\\]")
DATE = re.compile(r"^\d{8}$")
TIME = re.compile(r"^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$")
DATETIME = re.compile(r"^\d{4,14}(\.\d{1,6})?([+-]\d{4})?$")
RANGE_VRS = {"DA": DATE, "TM": TIME, "DT": DATETIME}
LIST_VRS = frozenset({"UI", "CS"})
NUMERIC_VRS = frozenset({"IS", "US", "UL", "SS", "SL", "UV", "SV"})
BOOLEAN = {"true": True, "false": False}
IGNORED = frozenset({"emptyvaluematching", "multiplevaluematching", "charset"})


@dataclass(frozen=True)
class ParsedSearch:
    query: SearchQuery
    warnings: tuple[str, ...]
    requested_limit: int | None


def tag_of(key: str, parameter: str) -> int:
    """An attribute id (keyword or 8 hex digits) -> tag; 400 naming `parameter` if unknown."""
    if HEX_TAG.match(key):
        return int(key, 16)
    tag = tag_for_keyword(key)
    if tag is None:
        raise BadRequest(f"query parameter {parameter!r}: {key!r} is not a DICOM keyword or tag", parameter=parameter)
    return int(tag)


def _vr(tag: int) -> str:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def _keyword(tag: int) -> str:
    return keyword_for_tag(tag) or f"{tag:08X}"


def parse_match(tag: int, values: Sequence[str], fuzzy: bool, parameter: str) -> Match | None:
    """The Match for one key's value(s); None for universal matching (empty or `*`)."""
    keyword, vr = _keyword(tag), _vr(tag)
    if len(values) == 1 and values[0] in ("", "*"):
        return None
    if vr in RANGE_VRS and len(values) == 1 and "-" in values[0]:
        low, _, high = values[0].partition("-")
        for bound in (low, high):
            if bound and not RANGE_VRS[vr].match(bound):
                raise BadRequest(f"query parameter {parameter!r}: {bound!r} is not a valid {vr} value",
                                 parameter=parameter)
        return Match(tag, keyword, "range", (low, high))
    split: list[str] = []
    for value in values:
        split += [v.strip() for v in LIST_SEPARATORS.split(value)] if vr in LIST_VRS else [value]
    split = [v for v in split if v]
    if not split:
        return None
    numeric = vr in NUMERIC_VRS
    if numeric and not all(v.lstrip("+-").isdigit() for v in split):
        raise BadRequest(f"query parameter {parameter!r}: {values[0]!r} is not an integer", parameter=parameter)
    if vr in RANGE_VRS and not all(RANGE_VRS[vr].match(v) for v in split):
        raise BadRequest(f"query parameter {parameter!r}: {values[0]!r} is not a valid {vr} value",
                         parameter=parameter)
    if len(split) > 1:
        return Match(tag, keyword, "list", tuple(split))
    value = split[0]
    if vr not in ("UI", "DA", "TM", "DT") and not numeric and (
            "*" in value or "?" in value):
        return Match(tag, keyword, "wildcard", (value,))
    if vr == "PN" and fuzzy:
        return Match(tag, keyword, "fuzzy", (value,))
    return Match(tag, keyword, "single", (value,))


def _integer(args: Mapping[str, list[str]], name: str, minimum: int) -> int | None:
    values = args.get(name)
    if not values:
        return None
    text = values[-1].strip()
    if not text.isdigit() or int(text) < minimum:
        raise BadRequest(f"query parameter {name!r} must be an integer >= {minimum}, not {text!r}", parameter=name)
    return int(text)


def parse_search(args: Mapping[str, list[str]], level: Level, *, limits: tuple[int, int],
                 study_uid: str | None = None, series_uid: str | None = None) -> ParsedSearch:
    """Build the SearchQuery for `level`; `args` maps each key to all its values (in order)."""
    default_limit, max_limit = limits
    warnings: list[str] = []
    fuzzy_values = args.get("fuzzymatching", [])
    fuzzy = False
    if fuzzy_values:
        value = fuzzy_values[-1].strip().lower()
        if value not in BOOLEAN:
            raise BadRequest("query parameter 'fuzzymatching' must be true or false", parameter="fuzzymatching")
        fuzzy = BOOLEAN[value]
    include: set[int] = set()
    include_all = False
    for value in args.get("includefield", []):
        for item in (v.strip() for v in value.split(",")):
            if item.lower() == "all":
                include_all = True
            elif item:
                include.add(tag_of(item, "includefield"))
    matches: list[Match] = []
    for key, values in args.items():
        if key in ("fuzzymatching", "includefield", "limit", "offset") or key.lower() in IGNORED:
            continue
        if key == "orderby":
            warnings.append("The orderby parameter is not supported; results are in the server's stable order.")
            continue
        if "." in key:
            warnings.append(f"Sequence matching ({key}) is not supported; the key was ignored.")
            continue
        tag = tag_of(key, key)
        match = parse_match(tag, values, fuzzy, key)
        include.add(tag)
        if match is not None:
            matches.append(match)
    requested = _integer(args, "limit", 1)
    limit = min(requested if requested is not None else default_limit, max_limit)
    offset = _integer(args, "offset", 0) or 0
    query = SearchQuery(level=level, study_uid=study_uid, series_uid=series_uid, matches=tuple(matches),
                        include=frozenset(include), include_all=include_all, limit=limit, offset=offset)
    return ParsedSearch(query, tuple(warnings), requested)
