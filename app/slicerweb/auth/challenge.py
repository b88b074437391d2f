"""RFC 6750 §3 `WWW-Authenticate: Bearer ...` challenges, shared by the guard and the verifier."""

from __future__ import annotations


def bearer_challenge(realm: str, error: str | None = None, description: str | None = None,
                     scope: str | None = None) -> str:
    """RFC 6750 `WWW-Authenticate` value (no error code when no credentials were sent).

    >>> bearer_challenge("slicerweb", "insufficient_scope", scope="slicer.exec")
    'Bearer realm="slicerweb", error="insufficient_scope", scope="slicer.exec"'
    """
    parts = [f'realm="{_quoted(realm)}"']
    if error:
        parts.append(f'error="{error}"')
    if description:
        parts.append(f'error_description="{_quoted(description)}"')
    if scope:
        parts.append(f'scope="{_quoted(scope)}"')
    return "Bearer " + ", ".join(parts)


def _quoted(text: str) -> str:
    # RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E (no quote, no backslash).
    return "".join(c for c in text.replace('"', "'") if " " <= c <= "~" and c != "\\")
