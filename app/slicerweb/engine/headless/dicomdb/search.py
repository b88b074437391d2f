"""SearchQuery -> SQL over the index, and index rows -> QIDO DICOM JSON records.

Matching follows PS3.4 C.2.2.2 as PS3.18 §8.3.4 uses it: single value, wildcard (`*`, `?`; PN
case-insensitive, other VRs case-sensitive through `PRAGMA case_sensitive_like`, which is also
PostgreSQL's LIKE), ranges on DA/TM/DT, UID and code lists, and fuzzy PN matching (every query
token is a prefix of a name token, case-insensitive). Values are always bound parameters.
Keys the index has no column for (standard attributes outside it, sequence keys such as
`RequestAttributeSequence.ScheduledProcedureStepID`) are matched on the stored DICOM JSON
(`json_keys`, `JSON_SOURCE`), reading at most MAX_JSON_SCAN candidates' JSON per search.

    >>> sql, params = where_clause(SearchQuery("study", matches=(Match(0x00100010, "PatientName",
    ...                                        "wildcard", ("doe*",)),)))
    >>> sql, params
    ('p.patient_name_lc LIKE ? ESCAPE \'\\\'', ['doe%'])
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydicom.datadict import dictionary_VR

from ....formats.dicom.attributes import BY_TAG, Attribute
from ....formats.dicom.ingest import fold_name
from ....formats.dicom.json_match import matches
from ....formats.dicom.records import from_document, record, returned_attributes, visible
from ...dicom_api import Match, SearchQuery, SearchResult
from ...errors import Invalid
from .database import Connection

FROM = {
    "study": "study s JOIN patient p ON p.pk = s.patient_pk",
    "series": "series r JOIN study s ON s.pk = r.study_pk JOIN patient p ON p.pk = s.patient_pk",
    "instance": ("instance i JOIN series r ON r.pk = i.series_pk JOIN study s ON s.pk = r.study_pk "
                 "JOIN patient p ON p.pk = s.patient_pk"),
}
ORDER = {
    "study": "s.pk",
    "series": "r.study_pk, r.series_number, r.pk",
    "instance": "i.series_pk, i.instance_number, i.pk",
}
# The stored JSON a record's non-indexed attributes come from: the instance's own, or a representative
# instance's (the first in retrieval order) for series and studies; scalar subqueries, portable SQL.
JSON_SOURCE = {
    "instance": "i.json",
    "series": "(SELECT x.json FROM instance x WHERE x.series_pk = r.pk ORDER BY x.instance_number, x.pk LIMIT 1)",
    "study": ("(SELECT x.json FROM instance x JOIN series y ON y.pk = x.series_pk WHERE y.study_pk = s.pk "
              "ORDER BY y.series_number, y.pk, x.instance_number, x.pk LIMIT 1)"),
}
NOT_JSON_MATCHABLE = frozenset({"SQ", "OB", "OD", "OF", "OL", "OV", "OW", "UN"})
MAX_JSON_SCAN = 10_000  # candidates whose stored JSON one search may read (keys the index cannot match)
PN_COLUMNS = {"p.patient_name": "p.patient_name_lc", "s.referring_name": "s.referring_name_lc"}
TOKEN_COLUMNS = {"p.patient_name": "p.patient_name_tokens", "s.referring_name": "s.referring_name_tokens"}


def like_pattern(value: str) -> str:
    """DICOM wildcard -> LIKE pattern with `\\` as escape: 'a_b*c?' -> 'a\\_b%c_'."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def _range_bounds(attribute: Attribute, low: str, high: str) -> tuple[str, str]:
    if attribute.vr == "TM":
        low = (low.replace(":", "") + "000000")[:6] if low else ""
        high = (high.replace(":", "") + "999999")[:6] + ".999999" if high else ""
    elif attribute.vr == "DT":
        high = high + "99999999999999.999999"[len(high):] if high else ""
    return low, high


def condition(match: Match, attribute: Attribute) -> tuple[str, list[Any]]:
    """The SQL condition and parameters for one matching key."""
    column = attribute.column
    if attribute.tag == 0x00080061:  # ModalitiesInStudy: any series of the study
        inner, params = condition(match, BY_TAG[0x00080060])
        return (f"EXISTS (SELECT 1 FROM series x WHERE x.study_pk = s.pk AND "
                f"{inner.replace('r.modality', 'x.modality')})", params)
    folded = attribute.vr == "PN"
    if folded:
        column = PN_COLUMNS.get(column, column)
    values = list(match.values)
    if folded:
        values = [v.casefold() if match.kind in ("wildcard", "fuzzy") else fold_name(v) for v in values]
    if match.kind == "fuzzy":
        tokens = [t for t in values[0].replace("^", " ").replace(",", " ").split() if t]
        token_column = TOKEN_COLUMNS[attribute.column]
        return " AND ".join(f"{token_column} LIKE ? ESCAPE '\\'" for _ in tokens) or "1=1", [
            "% " + like_pattern(t) + "%" for t in tokens]
    if match.kind == "wildcard":
        return f"{column} LIKE ? ESCAPE '\\'", [like_pattern(values[0])]
    if match.kind == "range":
        low, high = _range_bounds(attribute, values[0], values[1])
        parts, params = [f"{column} <> ''"], []
        if low:
            parts.append(f"{column} >= ?")
            params.append(low)
        if high:
            parts.append(f"{column} <= ?")
            params.append(high)
        return " AND ".join(parts), params
    params = [int(v) for v in values] if attribute.numeric else values
    if match.kind == "list" and len(params) > 1:
        return f"{column} IN ({', '.join('?' for _ in params)})", params
    return f"{column} = ?", params[:1]


def where_clause(query: SearchQuery) -> tuple[str, list[Any]]:
    """The WHERE clause (without the keyword) for the query's path scope and matching keys."""
    parts: list[str] = []
    params: list[Any] = []
    if query.study_uid is not None:
        parts.append("s.study_uid = ?")
        params.append(query.study_uid)
    if query.series_uid is not None:
        parts.append("r.series_uid = ?")
        params.append(query.series_uid)
    for match in query.matches:
        attribute = BY_TAG.get(match.tag)
        if match.path or attribute is None or not attribute.matchable or not visible(attribute, query.level):
            continue
        sql, values = condition(match, attribute)
        parts.append(sql)
        params.extend(values)
    return " AND ".join(parts) or "1=1", params


def json_matchable(tag: int) -> bool:
    """A standard attribute with a text or numeric VR: matchable on the stored JSON (private and
    unknown tags, binary and sequence values are not)."""
    if (tag >> 16) % 2:
        return False
    try:
        vr = str(dictionary_VR(tag))
    except KeyError:
        return False
    return vr not in NOT_JSON_MATCHABLE and " or " not in vr


def json_keys(query: SearchQuery) -> tuple[Match, ...]:
    """Keys matched on stored DICOM JSON (`formats.dicom.json_match`): sequence keys, and attributes
    the index holds no column for."""
    return tuple(m for m in query.matches if m.path or (m.tag not in BY_TAG and json_matchable(m.tag)))


def unsupported_keys(query: SearchQuery) -> tuple[str, ...]:
    """Warnings for matching keys that cannot be matched at this level (they were ignored, PS3.18 §8.3.4)."""
    on_json = json_keys(query)
    return tuple(f"The attribute {m.keyword} is not supported for matching at {query.level} level; it was ignored."
                 for m in query.matches if m not in on_json and (
                     m.tag not in BY_TAG or not BY_TAG[m.tag].matchable or not visible(BY_TAG[m.tag], query.level)))


Page = list[tuple[tuple[Any, ...], str | dict[str, Any] | None]]  # (row, its stored JSON if read)


def run(conn: Connection, query: SearchQuery) -> SearchResult:
    """One page of QIDO results, in a stable order, and the total number of matches."""
    attributes, needs_json = returned_attributes(query)
    on_json = json_keys(query)
    where, params = where_clause(query)
    with_json = needs_json or bool(on_json)
    columns = [a.column for a in attributes] + ([JSON_SOURCE[query.level]] if with_json else [])
    source = FROM[query.level]
    select = f"SELECT {', '.join(columns)} FROM {source} WHERE {where} ORDER BY {ORDER[query.level]}"
    whole, fields = from_document(query)
    page: Page
    if on_json:
        page, total = _scan(conn.execute(f"{select} LIMIT ?", [*params, MAX_JSON_SCAN + 1]), query, on_json)
    else:
        rows = conn.execute(f"{select} LIMIT ? OFFSET ?", [*params, query.limit, query.offset]).fetchall()
        page = [(row, row[-1] if with_json else None) for row in rows]
        total = query.offset + len(rows)
        if len(rows) >= query.limit or (not rows and query.offset):
            total = int(conn.execute(f"SELECT COUNT(*) FROM {source} WHERE {where}", params).fetchone()[0])
    records = [record(row, attributes, document, fields, whole) for row, document in page]
    return SearchResult(records=records, total=total, offset=query.offset, warnings=unsupported_keys(query))


def _scan(cursor: Iterable[tuple[Any, ...]], query: SearchQuery, keys: tuple[Match, ...]) -> tuple[Page, int]:
    """(the page as (row, parsed JSON), the number of matches) of candidate rows filtered by `keys` on
    their stored JSON (the row's last column). Memory: one page; work: at most MAX_JSON_SCAN documents
    parsed, else Invalid (400) asking for an indexed key."""
    page: Page = []
    matched = 0
    for scanned, row in enumerate(cursor, start=1):
        if scanned > MAX_JSON_SCAN:
            names = ", ".join(m.keyword for m in keys)
            raise Invalid(f"matching on {names} reads each candidate's stored attributes, at most "
                          f"{MAX_JSON_SCAN} per search; add a matching key the index holds (PatientID, "
                          "StudyInstanceUID, StudyDate, Modality, ...) to narrow the search")
        document = json.loads(row[-1]) if row[-1] is not None else None
        if document is None or not matches(document, keys):
            continue
        if query.offset <= matched < query.offset + query.limit:
            page.append((row, document))
        matched += 1
    return page, matched
