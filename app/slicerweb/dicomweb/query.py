"""QIDO-RS query parameters (PS3.18 §8.3.4) -> SearchQuery, or 400 naming the bad parameter.

Keys are keywords or 8-hex tags; values arrive percent-decoded. Matching kinds by VR: UI and CS
take lists separated by `,` or `\\` (OHIF joins StudyInstanceUIDs with `\\`), DA/TM/DT take ranges
`A-B`, `-B`, `A-`, text VRs take `*`/`?` wildcards, PN is case-insensitive and, with
`fuzzymatching=true`, token-prefix matched. `includefield` may be repeated and/or comma-separated.
A dotted key (`RequestAttributeSequence.ScheduledProcedureStepID`) matches inside a sequence
(PS3.18 §8.3.4.1, `Match.path`); it and `includefield` of a path return the whole sequence.

Bounds (each a 400 naming the parameter, so no query costs more than a bounded index scan): a
value is at most MAX_VALUE_CHARS characters (a run of `*` counts as one), with at most
MAX_WILDCARDS `*`/`?`; a list has at most MAX_LIST_VALUES items; a fuzzy name at most
MAX_FUZZY_TOKENS tokens; integers are ASCII digits within their VR's range (and `offset` within
MAX_OFFSET); dates and times must exist (`20241399` is refused, not matched).

    >>> parse_search(MultiDict([("PatientName", "doe*"), ("includefield", "00081030,Modality"),
    ...                         ("limit", "10")]), "study", limits=(100, 1000)).query.matches
    (Match(tag=1048592, keyword='PatientName', kind='wildcard', values=('doe*',)),)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

from ..engine.dicom_api import Level, Match, SearchQuery
from ..errors import BadRequest

HEX_TAG = re.compile(r"^[0-9A-Fa-f]{8}$")
LIST_SEPARATORS = re.compile(r"[,\\]")
# [0-9], not \d or str.isdigit(): those accept '²' (int() then fails: a 500) and other scripts' digits.
DATE = re.compile(r"^[0-9]{8}$")
TIME = re.compile(r"^[0-9]{2}([0-9]{2}([0-9]{2}(\.[0-9]{1,6})?)?)?$")
DATETIME = re.compile(r"^[0-9]{4,14}(\.[0-9]{1,6})?([+-][0-9]{4})?$")
INTEGER = re.compile(r"^[+-]?[0-9]{1,20}$")
UNSIGNED = re.compile(r"^[0-9]{1,20}$")
RANGE_VRS = {"DA": DATE, "TM": TIME, "DT": DATETIME}
LIST_VRS = frozenset({"UI", "CS"})
# Integer VRs and their value ranges (PS3.5 §6.2; IS is a 32-bit signed integer in text form).
NUMERIC_RANGES = {"IS": (-(2**31), 2**31 - 1), "SS": (-(2**15), 2**15 - 1), "US": (0, 2**16 - 1),
                  "SL": (-(2**31), 2**31 - 1), "UL": (0, 2**32 - 1), "SV": (-(2**63), 2**63 - 1),
                  "UV": (0, 2**63 - 1)}  # UV above 2^63 does not fit the index's 64-bit integers
NUMERIC_VRS = frozenset(NUMERIC_RANGES)
MAX_VALUE_CHARS = 1024
MAX_WILDCARDS = 32
MAX_LIST_VALUES = 1000
MAX_FUZZY_TOKENS = 16
MAX_OFFSET = 2**31 - 1
MAX_SEQUENCE_DEPTH = 4
BOOLEAN = {"true": True, "false": False}
STAR_RUN = re.compile(r"\*{2,}")
FUZZY_TOKEN_SPLIT = re.compile(r"[\s^,]+")
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


def sequence_path(key: str) -> tuple[int, ...]:
    """'RequestAttributeSequence.ScheduledProcedureStepID' -> (sequence tag, ..., attribute tag); a
    plain key -> (its tag,). 400 naming the key when a component is unknown, a parent is not a
    sequence, the last one is, or the path is deeper than MAX_SEQUENCE_DEPTH (PS3.18 §8.3.4.1)."""
    parts = key.split(".")
    if len(parts) > MAX_SEQUENCE_DEPTH + 1:
        raise BadRequest(f"query parameter {key[:120]!r}: at most {MAX_SEQUENCE_DEPTH} nested sequences",
                         parameter=key)
    tags = tuple(tag_of(part, key) for part in parts)
    for parent in tags[:-1]:
        if _vr(parent) != "SQ":
            raise BadRequest(f"query parameter {key[:120]!r}: {_keyword(parent)} is not a sequence", parameter=key)
    if len(tags) > 1 and _vr(tags[-1]) == "SQ":
        raise BadRequest(f"query parameter {key[:120]!r}: name an attribute inside {_keyword(tags[-1])}",
                         parameter=key)
    return tags


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
    values = [STAR_RUN.sub("*", v) for v in values]  # '**' matches what '*' matches
    if len(values) == 1 and values[0] in ("", "*"):
        return None
    for value in values:
        if "\x00" in value:  # no DICOM text value holds NUL (and PostgreSQL text cannot)
            raise BadRequest(f"query parameter {parameter!r}: value contains a NUL character", parameter=parameter)
        if len(value) > MAX_VALUE_CHARS and vr not in LIST_VRS:
            raise BadRequest(f"query parameter {parameter!r}: value longer than {MAX_VALUE_CHARS} characters",
                             parameter=parameter)
    if vr in RANGE_VRS and len(values) == 1 and "-" in values[0]:
        low, _, high = values[0].partition("-")
        for bound in (low, high):
            if bound and not _valid_temporal(vr, bound):
                raise BadRequest(f"query parameter {parameter!r}: {bound!r} is not a valid {vr} value",
                                 parameter=parameter)
        return Match(tag, keyword, "range", (low, high))
    split: list[str] = []
    for value in values:
        split += [v.strip() for v in LIST_SEPARATORS.split(value)] if vr in LIST_VRS else [value]
    split = [v for v in split if v]
    if not split:
        return None
    if len(split) > MAX_LIST_VALUES:
        raise BadRequest(f"query parameter {parameter!r}: more than {MAX_LIST_VALUES} values", parameter=parameter)
    numeric = vr in NUMERIC_VRS
    if numeric:
        for v in split:
            _check_integer(v, vr, parameter)
    if vr in RANGE_VRS and not all(_valid_temporal(vr, v) for v in split):
        raise BadRequest(f"query parameter {parameter!r}: {values[0][:64]!r} is not a valid {vr} value",
                         parameter=parameter)
    if len(split) > 1:
        return Match(tag, keyword, "list", tuple(split))
    value = split[0]
    if vr not in ("UI", "DA", "TM", "DT") and not numeric and (
            "*" in value or "?" in value):
        if value.count("*") + value.count("?") > MAX_WILDCARDS:
            raise BadRequest(f"query parameter {parameter!r}: more than {MAX_WILDCARDS} wildcards",
                             parameter=parameter)
        return Match(tag, keyword, "wildcard", (value,))
    if vr == "PN" and fuzzy:
        if len(FUZZY_TOKEN_SPLIT.split(value.strip(" ^,"))) > MAX_FUZZY_TOKENS:
            raise BadRequest(f"query parameter {parameter!r}: more than {MAX_FUZZY_TOKENS} name tokens "
                             "for fuzzy matching", parameter=parameter)
        return Match(tag, keyword, "fuzzy", (value,))
    return Match(tag, keyword, "single", (value,))


def _check_integer(text: str, vr: str, parameter: str) -> None:
    if not INTEGER.match(text):
        raise BadRequest(f"query parameter {parameter!r}: {text[:64]!r} is not an integer", parameter=parameter)
    low, high = NUMERIC_RANGES[vr]
    if not low <= int(text) <= high:
        raise BadRequest(f"query parameter {parameter!r}: {text[:64]!r} is outside the {vr} range "
                         f"{low}..{high}", parameter=parameter)


def _valid_temporal(vr: str, text: str) -> bool:
    """The DA/TM/DT syntax and real calendar/clock values: '20241399' and '2460' are refused."""
    if not RANGE_VRS[vr].match(text):
        return False
    if vr == "TM":
        return _valid_clock(text)
    digits = text.split(".")[0].split("+")[0].split("-")[0] if vr == "DT" else text
    year, month, day = int(digits[:4]), int(digits[4:6] or 1), int(digits[6:8] or 1)
    try:
        date(max(year, 1), month, day)
    except ValueError:
        return False
    return vr == "DA" or _valid_clock(digits[8:] or "00")


def _valid_clock(text: str) -> bool:
    digits = text.split(".")[0]
    hour, minute, second = int(digits[:2]), int(digits[2:4] or 0), int(digits[4:6] or 0)
    return hour < 24 and minute < 60 and second <= 60  # 60: a leap second


def _integer(args: Mapping[str, list[str]], name: str, minimum: int, maximum: int) -> int | None:
    values = args.get(name)
    if not values:
        return None
    text = values[-1].strip()
    if not UNSIGNED.match(text) or int(text) < minimum:
        raise BadRequest(f"query parameter {name!r} must be an integer >= {minimum}, not {text[:64]!r}",
                         parameter=name)
    if int(text) > maximum:
        raise BadRequest(f"query parameter {name!r} must be at most {maximum}, not {text[:64]!r}", parameter=name)
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
            elif item:  # a path into a sequence includes the whole (top-level) sequence
                include.add(tag_of(item.split(".", 1)[0], "includefield"))
    matches: list[Match] = []
    for key, values in args.items():
        if key in ("fuzzymatching", "includefield", "limit", "offset") or key.lower() in IGNORED:
            continue
        if key == "orderby":
            warnings.append("The orderby parameter is not supported; results are in the server's stable order.")
            continue
        path = sequence_path(key)
        tag = path[-1]
        match = parse_match(tag, values, fuzzy, key)
        include.add(path[0])  # a matching key is returned: for a sequence key, the whole sequence
        if match is not None:
            matches.append(replace(match, keyword=key, path=path[:-1]) if len(path) > 1 else match)
    requested = _integer(args, "limit", 1, 2**63 - 1)  # above max_limit it is capped, not refused
    limit = min(requested if requested is not None else default_limit, max_limit)
    offset = _integer(args, "offset", 0, MAX_OFFSET) or 0
    query = SearchQuery(level=level, study_uid=study_uid, series_uid=series_uid, matches=tuple(matches),
                        include=frozenset(include), include_all=include_all, limit=limit, offset=offset)
    return ParsedSearch(query, tuple(warnings), requested)
