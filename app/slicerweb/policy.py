"""The declarative security policy: one TOML file -> one frozen `Policy`.

Every setting is declared once in `SETTINGS` (section, key, type, default, help), the way datasette
declares its settings table: the loader rejects unknown keys and wrong types, and every problem is a
`PolicyError` that names the file, the line, the key path, the value and what would be accepted:

    policies/site.toml:12: cors.allow_origins[0] = "*" cannot be combined with
    cors.allow_credentials = true; list the viewer's origin instead, e.g. "https://viewer.hospital.lan"

`slicerweb check-policy FILE` prints these messages and `serve` refuses to start on any of them.
The same file is read by the app and by the proxy's verifier endpoint.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAMILIES = ("static", "dicomweb", "slicer")
# Actions that token scopes are granted for; `authorize.allowed()` decides on exactly these.
ACTIONS = (
    "static",
    "dicomweb_read",
    "dicomweb_write",
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


@dataclass(frozen=True)
class Setting:
    """One policy key: its type, default and why it exists (the help line is the documentation)."""

    section: str
    key: str
    type: type | tuple[type, ...]
    default: Any
    help: str
    choices: tuple[Any, ...] = ()
    minimum: int | None = None

    @property
    def path(self) -> str:
        return f"{self.section}.{self.key}"


def _s(section: str, key: str, typ: Any, default: Any, help: str, **kw: Any) -> Setting:
    return Setting(section, key, typ, default, help, **kw)


SETTINGS: tuple[Setting, ...] = (
    # [server]
    _s("server", "host", str, "127.0.0.1",
       "Address to bind. Loopback by default; anything else requires [auth] mode != 'none'."),
    _s("server", "port", int, 2016, "First port to try (the WebServer module's 2016).", minimum=0),
    _s("server", "port_search", int, 20,
       "How many following ports to try when the port is taken, so several instances can run.",
       minimum=1),
    _s("server", "unix_socket", str, "",
       "Listen on this Unix socket instead of host:port (behind the bundled proxy)."),
    _s("server", "docroot", str, "", "Static pages directory; empty means the bundled docroot/."),
    _s("server", "data_dir", str, "",
       "Where the DICOM index, stored instances, feature state and audit log live; "
       "empty means ./data next to the working directory."),
    _s("server", "allowed_hosts", list, ["127.0.0.1", "localhost", "[::1]"],
       "Host header values accepted (port ignored): DNS-rebinding protection. '*' accepts any."),
    _s("server", "trusted_proxies", list, [],
       "Client addresses or networks whose Forwarded / X-Forwarded-* headers are honoured."),
    _s("server", "public_url", str, "",
       "Fixed public base URL (https://host/prefix) used in RetrieveURL etc.; overrides headers."),
    _s("server", "file_roots", list, [],
       "Server directories /slicer/mrml may load from and save to (localfile=, url=file://). Empty: "
       "anywhere on a loopback-only server (the caller is a local user), nowhere otherwise."),
    _s("server", "url_load_prefixes", list, [],
       "URL prefixes /slicer/mrml?url= and accessDICOMwebStudy may fetch from (SSRF guard). Empty: any "
       "http(s) URL on a loopback-only server, none otherwise."),
    # [features]
    _s("features", "static", bool, True, "Serve static pages from the docroot at /."),
    _s("features", "dicomweb", bool, True, "Serve the DICOM database as DICOMweb at /dicom."),
    _s("features", "dicomweb_write", bool, False, "Accept STOW-RS uploads (POST /dicom/studies)."),
    _s("features", "slicer", bool, True, "Serve the Slicer REST API at /slicer."),
    _s("features", "exec", bool, False,
       "Allow remote Python at /slicer/exec. Equivalent to handing out the account's password."),
    _s("features", "exec_get_source", bool, False,
       "Accept GET /slicer/exec?source=...; a one-<img>-tag cross-site attack, so off."),
    _s("features", "exec_toggle", bool, True,
       "Let an admin (or the local operator) switch exec on for a limited time at runtime."),
    _s("features", "exec_toggle_max_minutes", int, 60,
       "Upper bound on how long a runtime exec toggle may last.", minimum=1),
    _s("features", "cors", bool, False, "Send CORS headers to the origins in [cors]."),
    _s("features", "health", bool, True,
       "Serve GET /livez and /readyz to loopback callers and the local proxy (never through the public front)."),
    _s("features", "metrics", bool, True,
       "Serve GET /metrics (Prometheus text format): to loopback callers without a token when "
       "auth.metrics_local_without_token, otherwise only with a [scopes] metrics scope."),
    # [cors]
    _s("cors", "allow_origins", list, [],
       "Origins (scheme://host[:port]) whose cross-origin requests are allowed; '*' for any."),
    _s("cors", "allow_credentials", bool, False,
       "Send Access-Control-Allow-Credentials; never together with '*'. Bearer APIs need no cookies."),
    _s("cors", "allow_headers", list, ["Accept", "Authorization", "Content-Type", "Range"],
       "Request headers a cross-origin caller may send."),
    _s("cors", "expose_headers", list, ["Content-Length", "Content-Type", "Warning", "ETag"],
       "Response headers visible to cross-origin scripts (OHIF reads Warning)."),
    _s("cors", "max_age", int, 600, "Seconds a browser may cache a preflight answer.", minimum=0),
    # [limits]
    _s("limits", "max_body_bytes", int, 1 << 20, "Default request body limit (413 beyond).", minimum=0),
    _s("limits", "upload_max_body_bytes", int, 4 << 30,
       "Body limit for STOW-RS and volume/file uploads.", minimum=0),
    _s("limits", "exec_max_body_bytes", int, 64 << 10, "Body limit for /slicer/exec.", minimum=0),
    _s("limits", "volume_upload_compressed", bool, False,
       "Accept gzip/bzip2 NRRD bodies at POST /slicer/volume (inflated within limits.max_volume_bytes and "
       "limits.max_compression_ratio); "
       "the WebServer module accepted raw only."),
    _s("limits", "max_volume_bytes", int, 4 << 30,
       "Largest volume (voxel bytes) read from an upload, a file or a URL: a header announcing more is "
       "refused (413) before anything is allocated, and decompression never goes past it.", minimum=1),
    _s("limits", "max_compression_ratio", int, 1100,
       "Compressed NRRD data may expand at most this many times (decompression-bomb guard; gzip's best "
       "case is about 1032:1, so honest gzip files always pass).", minimum=1),
    _s("limits", "max_frames_per_request", int, 1000,
       "Most frame numbers one WADO-RS frames request may list (each at most once).", minimum=1),
    _s("limits", "read_timeout", int, 60,
       "Seconds an idle connection may wait for data, and the most a request head may take to arrive "
       "(slow-header clients are closed). Keep it above the proxy's upstream keep-alive (30 s in proxy/).",
       minimum=1),
    _s("limits", "body_timeout", int, 600, "Seconds a request body may take to arrive.", minimum=1),
    _s("limits", "qido_default_limit", int, 100, "QIDO results when no limit is asked.", minimum=1),
    _s("limits", "qido_max_limit", int, 1000, "Largest QIDO limit honoured.", minimum=1),
    # [logging]
    _s("logging", "console", bool, True, "Log messages to the console (stderr)."),
    _s("logging", "access_log", bool, True, "Write one JSON access-log line per request."),
    _s("logging", "level", str, "info", "Log level.", choices=("debug", "info", "warning", "error")),
    _s("logging", "format", str, "auto",
       "Console log lines: 'json' (one object per line, for journald and log shippers), 'text', or 'auto' "
       "(json unless stderr is a terminal). `serve --log-format` overrides it.", choices=("auto", "json", "text")),
    _s("logging", "access_log_path", str, "",
       "Write the access log to this file instead of the console; reopened on SIGHUP (logrotate: rename, "
       "then SIGHUP; see deploy/logrotate/slicerweb)."),
    # [audit]
    _s("audit", "path", str, "", "Append-only JSON-lines audit log; empty means <data_dir>/audit.jsonl."),
    # [auth]
    _s("auth", "mode", str, "none",
       "How callers prove who they are: 'none' (loopback only), 'jwt' (RFC 9068 access tokens), "
       "'introspection' (RFC 7662 for opaque tokens).", choices=("none", "jwt", "introspection")),
    _s("auth", "realm", str, "slicerweb", "Realm named in WWW-Authenticate."),
    _s("auth", "issuer", str, "", "Expected 'iss'; its /.well-known/openid-configuration gives the JWKS."),
    _s("auth", "audience", str, "", "Expected 'aud' (this resource server's identifier)."),
    _s("auth", "jwks_url", str, "", "JWKS URL; empty means discovered from the issuer."),
    _s("auth", "ca_file", str, "", "CA bundle for reaching the issuer over HTTPS (a LAN CA)."),
    _s("auth", "algorithms", list, ["RS256", "ES256", "PS256", "EdDSA"],
       "Accepted JWS algorithms: asymmetric only ('none' and HS* are refused)."),
    _s("auth", "leeway", int, 30, "Seconds of clock skew allowed on exp/nbf/iat.", minimum=0),
    _s("auth", "jwks_min_refresh_seconds", int, 60,
       "At most one JWKS refresh per this many seconds on an unknown kid.", minimum=0),
    _s("auth", "require_at_jwt", bool, True,
       "Require the RFC 9068 header typ 'at+jwt' (refuses ID tokens). Turn off only for an IdP that "
       "cannot emit it; tokens carrying nonce/at_hash are then still refused."),
    _s("auth", "failure_limit", int, 30,
       "Failed authentications per client within failure_window_seconds before its unverified attempts "
       "(no token, bad token) get 429; a valid token is never refused (0: no limit).",
       minimum=0),
    _s("auth", "failure_window_seconds", int, 60, "Window for auth.failure_limit.", minimum=1),
    _s("auth", "introspection_url", str, "", "RFC 7662 endpoint (mode = 'introspection')."),
    _s("auth", "client_id", str, "", "Client id for introspection."),
    _s("auth", "client_secret_file", str, "", "File holding the introspection client secret."),
    _s("auth", "scope_claims", list, ["scope", "scp", "groups", "roles"],
       "Claims whose values count as granted scopes (space-separated strings or lists)."),
    _s("auth", "metrics_local_without_token", bool, True,
       "Loopback callers (not forwarded by a proxy) may read /metrics without a token; off: always a token."),
    _s("auth", "public", list, [],
       "Actions open without a token (e.g. ['static'] for the docroot); admin and exec never."),
    # [scopes]: which scopes grant which action (any one suffices)
    _s("scopes", "static", list, ["slicerweb.static"], "Scopes that may read static pages."),
    _s("scopes", "dicomweb_read", list, ["dicomweb.read"], "Scopes for QIDO/WADO."),
    _s("scopes", "dicomweb_write", list, ["dicomweb.write"], "Scopes for STOW-RS."),
    _s("scopes", "slicer_read", list, ["slicer.read"], "Scopes for GET on /slicer."),
    _s("scopes", "slicer_write", list, ["slicer.write"], "Scopes for scene-changing /slicer calls."),
    _s("scopes", "exec", list, ["slicer.exec"], "Scopes for /slicer/exec (also needs exec on)."),
    _s("scopes", "admin", list, ["slicerweb.admin"], "Scopes for /admin (feature toggles)."),
    _s("scopes", "metrics", list, ["slicerweb.metrics"], "Scopes for GET /metrics (a Prometheus scraper)."),
    # [viewer]: how the bundled OHIF (/browse) signs in; served as /browse/app-config.js (viewer_config.py)
    _s("viewer", "oidc_client_id", str, "",
       "OHIF's public OIDC client (authorization code + PKCE S256); empty: OHIF does not sign in (loopback use)."),
    _s("viewer", "oidc_authority", str, "",
       "Issuer URL OHIF signs in at (its origin joins the CSP connect-src); empty: auth.issuer."),
    _s("viewer", "oidc_scope", str, "openid dicomweb.read offline_access",
       "Scopes OHIF asks for, in the IdP's spelling (Entra: 'openid api://slicerweb/dicomweb.read ...'); "
       "offline_access gets a refresh token, so a session outlives the access token without an iframe."),
    _s("viewer", "admin_scope", str, "openid slicerweb.admin",
       "Scopes the admin console (/admin) asks for, in the IdP's spelling; it signs in with oidc_client_id like "
       "OHIF, so register https://<host>/admin/ as a redirect URI of that client too."),
    # [index]
    _s("index", "url", str, "",
       "Where the DICOM index lives: empty means SQLite in <data_dir>/dicom/index.sqlite; "
       "'postgresql://user@host/db' a PostgreSQL database shared by every instance (see deploy/README.md)."),
)

_BY_PATH = {s.path: s for s in SETTINGS}
SECTIONS = tuple(dict.fromkeys(s.section for s in SETTINGS))


@dataclass(frozen=True)
class Section:
    """Read-only attribute access to one section's values."""

    values: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class Policy:
    """A validated policy. Sections are attributes: `policy.features.exec`, `policy.cors.max_age`."""

    source: str
    server: Section
    features: Section
    cors: Section
    limits: Section
    logging: Section
    audit: Section
    auth: Section
    scopes: Section
    viewer: Section
    index: Section
    overrides: dict[str, Any] = field(default_factory=dict)

    def replace(self, **changes: Any) -> Policy:
        """A copy with dotted keys changed (`{"server.port": 0}`), validated like the file."""
        raw = {sec: dict(getattr(self, sec).values) for sec in SECTIONS}
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

    values: dict[str, dict[str, Any]] = {sec: {} for sec in SECTIONS}
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
            values[section][key] = _check(setting, value, lambda v, h, s=setting: fail(s.section, s.key, v, h))
    for setting in SETTINGS:
        values[setting.section].setdefault(setting.key, _copy(setting.default))
    _cross_checks(values, lambda sec, key, v, h: fail(sec, key, v, h))
    sections: dict[str, Any] = {sec: Section(vals) for sec, vals in values.items()}
    return Policy(name, **sections)


def _copy(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _check(setting: Setting, raw: object, fail: Any) -> Any:
    typ = setting.type
    value: Any = raw
    if typ is list and isinstance(value, tuple):
        value = list(value)
    # TOML booleans are ints in Python; never accept one for the other.
    if (typ is int and isinstance(value, bool)) or not isinstance(value, typ):
        raise fail(value, f"must be {_type_name(typ)}, e.g. {setting.path.split('.')[1]} = "
                          f"{_toml(setting.default)}")
    if setting.choices and value not in setting.choices:
        raise fail(value, "must be one of " + ", ".join(repr(c) for c in setting.choices))
    if setting.minimum is not None and value < setting.minimum:
        raise fail(value, f"must be at least {setting.minimum}")
    if typ is list:
        for index, item in enumerate(value):
            if not isinstance(item, str):
                raise fail(value, f"item [{index}] must be a string")
        return tuple(value)
    return value


def _type_name(typ: Any) -> str:
    return {bool: "true or false", int: "an integer", str: "a string", list: "a list of strings"}.get(
        typ, str(typ)
    )


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def _cross_checks(v: dict[str, dict[str, Any]], fail: Any) -> None:
    """Rules that involve more than one key, decided once at load time."""
    origins = v["cors"]["allow_origins"]
    for index, origin in enumerate(origins):
        if origin == "*":
            if v["cors"]["allow_credentials"]:
                raise fail("cors", "allow_origins", origin,
                           f"[{index}] '*' cannot be combined with cors.allow_credentials = true; "
                           "list the viewer's origin instead, e.g. \"https://viewer.hospital.lan\"")
            continue
        if not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+", origin):
            raise fail("cors", "allow_origins", origin,
                       f"[{index}] must be an origin like \"https://viewer.hospital.lan:8443\" "
                       "(scheme://host[:port], no path, no trailing slash)")
    for index, entry in enumerate(v["server"]["trusted_proxies"]):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise fail("server", "trusted_proxies", entry,
                       f"[{index}] must be an IP address or network, e.g. \"127.0.0.1\" or \"10.0.0.0/24\"") from None
    for index, alg in enumerate(v["auth"]["algorithms"]):
        if alg.lower() == "none" or alg.upper().startswith("HS"):
            raise fail("auth", "algorithms", alg,
                       f"[{index}] only asymmetric algorithms are accepted (RS256, ES256, PS256, EdDSA)")
    for index, action in enumerate(v["auth"]["public"]):
        if action not in ACTIONS or action in ("exec", "admin", "dicomweb_write", "slicer_write"):
            raise fail("auth", "public", action,
                       f"[{index}] only read actions can be public: static, dicomweb_read, slicer_read")
    mode = v["auth"]["mode"]
    if mode == "jwt" and not (v["auth"]["issuer"] and v["auth"]["audience"]):
        raise fail("auth", "issuer" if not v["auth"]["issuer"] else "audience", _MISSING,
                   "auth.mode = 'jwt' needs both auth.issuer and auth.audience")
    if mode == "introspection" and not v["auth"]["introspection_url"]:
        raise fail("auth", "introspection_url", _MISSING, "auth.mode = 'introspection' needs this URL")
    loopback = bool(v["server"]["unix_socket"]) or is_loopback(v["server"]["host"])
    if mode == "none" and not loopback:
        raise fail("server", "host", v["server"]["host"],
                   "binding a non-loopback address without authentication is refused; set [auth] mode = "
                   "\"jwt\" (and put the bundled proxy in front), or bind 127.0.0.1")
    viewer = v["viewer"]
    if viewer["oidc_client_id"] and not (viewer["oidc_authority"] or v["auth"]["issuer"]):
        raise fail("viewer", "oidc_client_id", viewer["oidc_client_id"],
                   "OHIF sign-in needs an issuer: set viewer.oidc_authority or auth.issuer")
    if viewer["oidc_authority"] and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", viewer["oidc_authority"]):
        raise fail("viewer", "oidc_authority", viewer["oidc_authority"],
                   "must be the issuer's URL, e.g. \"https://login.hospital.lan/realms/radiology\"")
    if v["limits"]["qido_default_limit"] > v["limits"]["qido_max_limit"]:
        raise fail("limits", "qido_default_limit", v["limits"]["qido_default_limit"],
                   "must not exceed limits.qido_max_limit")


def documented_keys() -> Iterable[str]:
    """Every dotted key (for the docs test)."""
    return (s.path for s in SETTINGS)
