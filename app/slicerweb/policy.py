"""The declarative security policy: one TOML file -> one frozen, typed `Policy`.

Every setting is declared once, as a field of its section's dataclass (`policy_sections.py`: type,
default, help), the way datasette declares its settings table: the loader rejects unknown keys and
wrong types, and every problem is a `PolicyError` that names the file, the line, the key path, the
value and what would be accepted:

    policies/site.toml:12: cors.allow_origins[0] = "*" cannot be combined with
    cors.allow_credentials = true; list the viewer's origin instead, e.g. "https://viewer.hospital.lan"

`slicerweb check-policy FILE` prints these messages and `serve` refuses to start on any of them.
The same file is read by the app and by the proxy's verifier endpoint.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .policy_sections import (
    SECTION_TYPES,
    SETTINGS,
    AuditSection,
    AuthSection,
    CorsSection,
    FeaturesSection,
    IndexSection,
    LimitsSection,
    LoggingSection,
    ScopesSection,
    ServerSection,
    Setting,
    ViewerSection,
)

__all__ = [
    "ACTIONS", "FAMILIES", "LOOPBACK_HOSTS", "SECTIONS", "SETTINGS", "Policy", "PolicyError", "Setting",
    "data_dir_of", "default_policy", "documented_keys", "is_loopback", "load_policy",
]

FAMILIES = ("static", "dicomweb", "slicer")
# Actions that token scopes are granted for; `authorize.allowed()` decides on exactly these.
ACTIONS = (
    "static",
    "dicomweb_read",
    "dicomweb_write",
    "dicomweb_delete",
    "slicer_read",
    "slicer_write",
    "exec",
    "admin",
    "metrics",
)
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


class PolicyError(ValueError):
    """A policy problem, located: file, line (0 when unknown), key path, value and a hint."""

    def __init__(self, file: str, line: int, key: str, value: object, hint: str) -> None:
        self.file, self.line, self.key, self.value, self.hint = file, line, key, value, hint
        where = f"{file}:{line}" if line else file
        shown = f" = {value!r}" if value is not _MISSING else ""
        super().__init__(f"{where}: {key}{shown}: {hint}")


_MISSING = object()
_BY_PATH = {s.path: s for s in SETTINGS}
SECTIONS = tuple(SECTION_TYPES)
# A located failure: (section, key, value, hint) -> the PolicyError to raise.
Fail = Callable[[str, str, object, str], PolicyError]


@dataclass(frozen=True)
class Policy:
    """A validated policy. Sections are typed attributes: `policy.features.exec`, `policy.cors.max_age`."""

    source: str
    server: ServerSection
    features: FeaturesSection
    cors: CorsSection
    limits: LimitsSection
    logging: LoggingSection
    audit: AuditSection
    auth: AuthSection
    scopes: ScopesSection
    viewer: ViewerSection
    index: IndexSection

    def replace(self, **changes: object) -> Policy:
        """A copy with dotted keys changed (`{"server.port": 0}`), validated like the file."""
        raw: dict[str, dict[str, object]] = {sec: asdict(getattr(self, sec)) for sec in SECTIONS}
        for path, value in changes.items():
            section, _, key = path.partition(".")
            raw.setdefault(section, {})[key] = value
        return _build(raw, self.source + " (overridden)", "")

    @property
    def is_loopback_only(self) -> bool:
        return bool(self.server.unix_socket) or is_loopback(self.server.host)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def data_dir_of(policy: Policy) -> Path:
    """The data directory (server.data_dir, default ./data)."""
    return Path(policy.server.data_dir or "data")


def default_policy() -> Policy:
    """Every setting at its default (the closed defaults of policies/default.toml)."""
    return _build({}, "<defaults>", "")


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; raise PolicyError naming file, line and key."""
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(name, 0, "<file>", _MISSING, f"cannot be read: {exc.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise PolicyError(name, int(m.group(1)) if m else 0, "<syntax>", _MISSING, str(exc)) from None
    return _build(raw, name, text)


def _line_of(text: str, section: str, key: str) -> int:
    """Best-effort line number of `key` inside `[section]` (tomllib keeps no positions)."""
    current = ""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([A-Za-z0-9_.\-]+)\s*\]\s*(#.*)?", stripped)
        if header:
            current = header.group(1)
            if not key and current == section:
                return number
            continue
        if re.match(rf"{re.escape(key)}\s*=", stripped) and current == section:
            return number
    return 0


def _build(raw: dict[str, Any], name: str, text: str) -> Policy:
    def fail(section: str, key: str, value: object, hint: str) -> PolicyError:
        return PolicyError(name, _line_of(text, section, key), f"{section}.{key}".rstrip("."), value, hint)

    values: dict[str, dict[str, object]] = {sec: {} for sec in SECTIONS}
    for section, table in raw.items():
        if section not in values:
            raise fail(section, "", _MISSING, f"unknown section; known sections: {', '.join(SECTIONS)}")
        if not isinstance(table, dict):
            raise fail(section, "", table, "must be a table, e.g. [" + section + "]")
        for key, value in table.items():
            setting = _BY_PATH.get(f"{section}.{key}")
            if setting is None:
                known = ", ".join(s.key for s in SETTINGS if s.section == section)
                raise fail(section, key, value, f"unknown key; known keys in [{section}]: {known}")
            values[section][key] = _check(setting, value, fail)
    # Keys the file leaves out take the dataclass defaults.
    policy = Policy(name, **{sec: SECTION_TYPES[sec](**vals) for sec, vals in values.items()})
    _cross_checks(policy, fail)
    return policy


def _check(setting: Setting, raw: object, fail: Fail) -> object:
    """`raw` as the field's type (lists become tuples), or the PolicyError naming the key and the value."""
    typ = setting.type
    value = list(raw) if typ is list and isinstance(raw, tuple) else raw

    def refuse(hint: str) -> PolicyError:
        return fail(setting.section, setting.key, value, hint)

    # TOML booleans are ints in Python; never accept one for the other.
    if (typ is int and isinstance(value, bool)) or not isinstance(value, typ):
        raise refuse(f"must be {_type_name(typ)}, e.g. {setting.key} = {_toml(setting.default)}")
    if setting.choices and value not in setting.choices:
        raise refuse("must be one of " + ", ".join(repr(c) for c in setting.choices))
    if isinstance(value, int) and setting.minimum is not None and value < setting.minimum:
        raise refuse(f"must be at least {setting.minimum}")
    if isinstance(value, int) and setting.maximum is not None and value > setting.maximum:
        raise refuse(f"must be at most {setting.maximum}")
    if isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise refuse(f"item [{index}] must be a string")
        return tuple(value)
    return value


def _type_name(typ: type) -> str:
    return {bool: "true or false", int: "an integer", str: "a string", list: "a list of strings"}.get(
        typ, str(typ)
    )


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def _cross_checks(policy: Policy, fail: Fail) -> None:
    """Rules that involve more than one key, decided once at load time."""
    cors, auth, server, viewer, limits = policy.cors, policy.auth, policy.server, policy.viewer, policy.limits
    for index, origin in enumerate(cors.allow_origins):
        if origin == "*":
            if cors.allow_credentials:
                raise fail("cors", "allow_origins", origin,
                           f"[{index}] '*' cannot be combined with cors.allow_credentials = true; "
                           "list the viewer's origin instead, e.g. \"https://viewer.hospital.lan\"")
            continue
        if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin):
            raise fail("cors", "allow_origins", origin,
                       f"[{index}] must be an origin like \"https://viewer.hospital.lan:8443\" "
                       "(scheme://host[:port], no path, no trailing slash)")
    for index, entry in enumerate(server.trusted_proxies):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise fail("server", "trusted_proxies", entry,
                       f"[{index}] must be an IP address or network, e.g. \"127.0.0.1\" or \"10.0.0.0/24\"") from None
    for index, alg in enumerate(auth.algorithms):
        if alg.lower() == "none" or alg.upper().startswith("HS"):
            raise fail("auth", "algorithms", alg,
                       f"[{index}] only asymmetric algorithms are accepted (RS256, ES256, PS256, EdDSA)")
    for index, action in enumerate(auth.public):
        if action not in ACTIONS or action in ("exec", "admin", "dicomweb_write", "dicomweb_delete",
                                                          "slicer_write"):
            raise fail("auth", "public", action,
                       f"[{index}] only read actions can be public: static, dicomweb_read, slicer_read")
    if auth.mode == "jwt" and not (auth.issuer and auth.audience):
        raise fail("auth", "issuer" if not auth.issuer else "audience", _MISSING,
                   "auth.mode = 'jwt' needs both auth.issuer and auth.audience")
    if auth.mode == "introspection" and not auth.introspection_url:
        raise fail("auth", "introspection_url", _MISSING, "auth.mode = 'introspection' needs this URL")
    if auth.mode == "none" and not policy.is_loopback_only:
        raise fail("server", "host", server.host,
                   "binding a non-loopback address without authentication is refused; set [auth] mode = "
                   "\"jwt\" (and put the bundled proxy in front), or bind 127.0.0.1")
    if viewer.oidc_client_id and not (viewer.oidc_authority or auth.issuer):
        raise fail("viewer", "oidc_client_id", viewer.oidc_client_id,
                   "OHIF sign-in needs an issuer: set viewer.oidc_authority or auth.issuer")
    if viewer.oidc_authority and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", viewer.oidc_authority):
        raise fail("viewer", "oidc_authority", viewer.oidc_authority,
                   "must be the issuer's URL, e.g. \"https://login.hospital.lan/realms/radiology\"")
    if limits.qido_default_limit > limits.qido_max_limit:
        raise fail("limits", "qido_default_limit", limits.qido_default_limit,
                   "must not exceed limits.qido_max_limit")


def documented_keys() -> Iterator[str]:
    """Every dotted key, in declaration order (policies/README.md must list exactly these)."""
    return (s.path for s in SETTINGS)
