"""The one `Warning` header of a DICOMweb response: a bounded RFC 9110 list of `299` warnings.

PS3.18 signals truncated results, ignored keys and failed STOW parts with `Warning: 299 agent "text"`.
One header line per warning broke real clients (Python's http.client refuses more than 100 header
lines, curl aborts past its header size limit), so all warnings of a response are folded into one
comma-separated list (RFC 9110 §5.3: equivalent to repeated lines), cut at `MAX_WARNING_BYTES` with a
last element counting the rest. The full detail stays in the response body where there is one.

    >>> folded_warning(["There are 3 additional results that can be requested", "x"], "slicerweb")
    '299 slicerweb "There are 3 additional results that can be requested", 299 slicerweb "x"'
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_WARNING_BYTES = 4096
CUT_MARK = "..."


def _quoted(agent: str, text: str) -> str:
    """One warning-value; quotes and control characters (header injection) become harmless."""
    clean = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text.replace('"', "'"))
    return f'299 {agent} "{clean}"'


def folded_warning(texts: Sequence[str], agent: str, limit: int = MAX_WARNING_BYTES) -> str | None:
    """All `texts` as one header value of at most `limit` bytes (UTF-8); None when there are none."""
    if not texts:
        return None
    shown: list[str] = []
    size = 0
    # Room kept for the closing "... and N more" element (sized for the largest N).
    reserve = len(_quoted(agent, f"{CUT_MARK} and {len(texts)} more warnings").encode()) + 2
    for index, text in enumerate(texts):
        rest = len(texts) - index - 1
        tail = reserve if rest else 0
        item = _quoted(agent, text)
        cost = len(item.encode()) + (2 if shown else 0)
        if size + cost + tail <= limit:
            shown.append(item)
            size += cost
            continue
        if not shown:  # the first warning alone is too long: keep its start rather than nothing
            room = limit - tail - len(_quoted(agent, CUT_MARK).encode()) - 8
            shown.append(_quoted(agent, text.encode()[:max(room, 0)].decode(errors="ignore") + CUT_MARK))
            if rest == 0:
                break
            shown.append(_quoted(agent, f"{CUT_MARK} and {rest} more warnings"))
            break
        shown.append(_quoted(agent, f"{CUT_MARK} and {len(texts) - index} more warnings"))
        break
    return ", ".join(shown)
