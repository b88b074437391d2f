"""The policy's sections as frozen dataclasses: each field is one setting, with its type, default and help.

This is the one declaration of every policy key. A field's type is what the code sees
(`policy.limits.body_timeout` is an `int` to mypy, and a typo is an error); its metadata carries the
help line (the documentation, checked against policies/README.md) and the bounds the loader enforces.
`SETTINGS` is derived from these classes for the loader and the docs test, so nothing is declared twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Literal, TypeVar, get_args, get_origin, get_type_hints

_T = TypeVar("_T")

# Keys with a closed set of values are Literal types: mypy checks comparisons, the loader the file.
AuthMode = Literal["none", "jwt", "introspection"]
LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["auto", "json", "text"]


def setting(default: _T, help: str, *, minimum: int | None = None, maximum: int | None = None) -> _T:
    """A dataclass field for one policy key: `default`, a help line saying why it exists, and its bounds."""
    return field(default=default, metadata={"help": help, "minimum": minimum, "maximum": maximum})


@dataclass(frozen=True)
class ServerSection:
    """[server]: where the app listens, which Host headers and proxies it trusts, where its data lives."""

    host: str = setting(
        "127.0.0.1",
        "Address to bind. Loopback by default; anything else requires [auth] mode != 'none'.",
    )
    port: int = setting(2016, "First port to try (the WebServer module's 2016).", minimum=0)
    port_search: int = setting(
        20,
        "How many following ports to try when the port is taken, so several instances can run.",
        minimum=1,
    )
    unix_socket: str = setting("", "Listen on this Unix socket instead of host:port (behind the bundled proxy).")
    workers: int = setting(
        1,
        "Worker processes sharing the one listening socket (1-64): 1 for a bare loopback server, one per core "
        "behind the proxy. Worker 0 holds the /slicer scene; the others reach it over a private socket.",
        minimum=1, maximum=64,
    )
    docroot: str = setting("", "Static pages directory; empty means the bundled docroot/.")
    data_dir: str = setting(
        "",
        "Where the DICOM index, stored instances, feature state and audit log live; empty means ./data next "
        "to the working directory.",
    )
    allowed_hosts: tuple[str, ...] = setting(
        ("127.0.0.1", "localhost", "[::1]"),
        "Host header values accepted (port ignored): DNS-rebinding protection. '*' accepts any.",
    )
    trusted_proxies: tuple[str, ...] = setting(
        (),
        "Client addresses or networks whose Forwarded / X-Forwarded-* headers are honoured.",
    )
    public_url: str = setting(
        "",
        "Fixed public base URL (https://host/prefix) used in RetrieveURL etc.; overrides headers.",
    )
    file_roots: tuple[str, ...] = setting(
        (),
        "Server directories /slicer/mrml may load from and save to (localfile=, url=file://). Empty: anywhere"
        " on a loopback-only server (the caller is a local user), nowhere otherwise.",
    )
    url_load_prefixes: tuple[str, ...] = setting(
        (),
        "URL prefixes /slicer/mrml?url= and accessDICOMwebStudy may fetch from (SSRF guard). Empty: any "
        "http(s) URL on a loopback-only server, none otherwise.",
    )


@dataclass(frozen=True)
class FeaturesSection:
    """[features]: which families are mounted and which risky abilities are on (the ceiling for runtime toggles)."""

    static: bool = setting(True, "Serve static pages from the docroot at /.")
    dicomweb: bool = setting(True, "Serve the DICOM database as DICOMweb at /dicom.")
    dicomweb_write: bool = setting(False, "Accept STOW-RS uploads (POST /dicom/studies).")
    dicomweb_delete: bool = setting(
        False, "Accept DELETE of studies, series and instances at /dicom (policy only: no runtime switch turns "
               "it on).")
    slicer: bool = setting(True, "Serve the Slicer REST API at /slicer.")
    exec: bool = setting(
        False,
        "Allow remote Python at /slicer/exec. Equivalent to handing out the account's password.",
    )
    exec_get_source: bool = setting(
        False,
        "Accept GET /slicer/exec?source=...; a one-<img>-tag cross-site attack, so off.",
    )
    exec_toggle: bool = setting(
        True,
        "Let an admin (or the local operator) switch exec on for a limited time at runtime.",
    )
    exec_toggle_max_minutes: int = setting(60, "Upper bound on how long a runtime exec toggle may last.", minimum=1)
    cors: bool = setting(False, "Send CORS headers to the origins in [cors].")
    health: bool = setting(
        True,
        "Serve GET /livez and /readyz to loopback callers and the local proxy (never through the public "
        "front).",
    )
    metrics: bool = setting(
        True,
        "Serve GET /metrics (Prometheus text format): to loopback callers without a token when "
        "auth.metrics_local_without_token, otherwise only with a [scopes] metrics scope.",
    )

    def enabled(self, name: str) -> bool:
        """The on/off flag `name` (a family or ability); False for a name that is not a flag."""
        value = getattr(self, name, False)
        return value is True


@dataclass(frozen=True)
class CorsSection:
    """[cors]: the cross-origin allow-list (used only when features.cors is on)."""

    allow_origins: tuple[str, ...] = setting(
        (),
        "Origins (scheme://host[:port]) whose cross-origin requests are allowed; '*' for any.",
    )
    allow_credentials: bool = setting(
        False,
        "Send Access-Control-Allow-Credentials; never together with '*'. Bearer APIs need no cookies.",
    )
    allow_headers: tuple[str, ...] = setting(
        ("Accept", "Authorization", "Content-Type", "Range"),
        "Request headers a cross-origin caller may send.",
    )
    expose_headers: tuple[str, ...] = setting(
        ("Content-Length", "Content-Type", "Warning", "ETag"),
        "Response headers visible to cross-origin scripts (OHIF reads Warning).",
    )
    max_age: int = setting(600, "Seconds a browser may cache a preflight answer.", minimum=0)


@dataclass(frozen=True)
class LimitsSection:
    """[limits]: body sizes, timeouts and result counts; memory per request is bounded by these."""

    max_body_bytes: int = setting(1 << 20, "Default request body limit (413 beyond).", minimum=0)
    upload_max_body_bytes: int = setting(4 << 30, "Body limit for STOW-RS and volume/file uploads.", minimum=0)
    exec_max_body_bytes: int = setting(64 << 10, "Body limit for /slicer/exec.", minimum=0)
    volume_upload_compressed: bool = setting(
        False,
        "Accept gzip/bzip2 NRRD bodies at POST /slicer/volume (inflated within limits.max_volume_bytes and "
        "limits.max_compression_ratio); the WebServer module accepted raw only.",
    )
    max_volume_bytes: int = setting(
        4 << 30,
        "Largest volume (voxel bytes) read from an upload, a file or a URL: a header announcing more is "
        "refused (413) before anything is allocated, and decompression never goes past it.",
        minimum=1,
    )
    max_compression_ratio: int = setting(
        1100,
        "Compressed NRRD data may expand at most this many times (decompression-bomb guard; gzip's best case "
        "is about 1032:1, so honest gzip files always pass).",
        minimum=1,
    )
    max_frames_per_request: int = setting(
        1000,
        "Most frame numbers one WADO-RS frames request may list (each at most once).",
        minimum=1,
    )
    read_timeout: int = setting(
        60,
        "Seconds an idle connection may wait for data, and the most a request head may take to arrive (slow-"
        "header clients are closed). Keep it above the proxy's upstream keep-alive (30 s in proxy/).",
        minimum=1,
    )
    body_timeout: int = setting(600, "Seconds a request body may take to arrive.", minimum=1)
    qido_default_limit: int = setting(100, "QIDO results when no limit is asked.", minimum=1)
    qido_instance_default_limit: int = setting(
        1000, "QIDO instance-level results when no limit is asked (a series of up to this many instances comes "
              "back in one answer; Google's default, Orthanc has none); at most limits.qido_max_limit.", minimum=1)
    qido_max_limit: int = setting(1000, "Largest QIDO limit honoured.", minimum=1)


@dataclass(frozen=True)
class LoggingSection:
    """[logging]: console and access-log output."""

    console: bool = setting(True, "Log messages to the console (stderr).")
    access_log: bool = setting(True, "Write one JSON access-log line per request.")
    level: LogLevel = setting("info", "Log level.")
    format: LogFormat = setting(
        "auto",
        "Console log lines: 'json' (one object per line, for journald and log shippers), 'text', or 'auto' "
        "(json unless stderr is a terminal). `serve --log-format` overrides it.",
    )
    access_log_path: str = setting(
        "",
        "Write the access log to this file instead of the console; reopened on SIGHUP (logrotate: rename, "
        "then SIGHUP; see deploy/logrotate/slicerweb).",
    )


@dataclass(frozen=True)
class AuditSection:
    """[audit]: where the append-only record of privileged acts goes."""

    path: str = setting("", "Append-only JSON-lines audit log; empty means <data_dir>/audit.jsonl, or "
                        "<data_dir>/audit/<host>.jsonl when index.url is set (several hosts never append to one "
                        "file over NFS). {host} in the path is this host's name.")


@dataclass(frozen=True)
class AuthSection:
    """[auth]: how callers prove who they are (bearer tokens) and how failures are throttled."""

    mode: AuthMode = setting(
        "none",
        "How callers prove who they are: 'none' (loopback only), 'jwt' (RFC 9068 access tokens), "
        "'introspection' (RFC 7662 for opaque tokens).",
    )
    realm: str = setting("slicerweb", "Realm named in WWW-Authenticate.")
    issuer: str = setting("", "Expected 'iss'; its /.well-known/openid-configuration gives the JWKS.")
    audience: str = setting("", "Expected 'aud' (this resource server's identifier).")
    jwks_url: str = setting("", "JWKS URL; empty means discovered from the issuer.")
    ca_file: str = setting("", "CA bundle for reaching the issuer over HTTPS (a LAN CA).")
    algorithms: tuple[str, ...] = setting(
        ("RS256", "ES256", "PS256", "EdDSA"),
        "Accepted JWS algorithms: asymmetric only ('none' and HS* are refused).",
    )
    leeway: int = setting(30, "Seconds of clock skew allowed on exp/nbf/iat.", minimum=0)
    jwks_min_refresh_seconds: int = setting(
        60,
        "At most one JWKS refresh per this many seconds on an unknown kid.",
        minimum=0,
    )
    require_at_jwt: bool = setting(
        True,
        "Require the RFC 9068 header typ 'at+jwt' (refuses ID tokens). Turn off only for an IdP that cannot "
        "emit it (Keycloak without the per-client option, Azure AD); tokens carrying nonce/at_hash are then "
        "still refused.",
    )
    failure_limit: int = setting(
        30,
        "Failed authentications per client within failure_window_seconds before its unverified attempts (no "
        "token, bad token) get 429; a valid token is never refused (0: no limit). Counted in the app, so it "
        "works behind Caddy too.",
        minimum=0,
    )
    failure_window_seconds: int = setting(60, "Window for auth.failure_limit.", minimum=1)
    introspection_url: str = setting("", "RFC 7662 endpoint (mode = 'introspection').")
    client_id: str = setting("", "Client id for introspection.")
    client_secret_file: str = setting("", "File holding the introspection client secret.")
    scope_claims: tuple[str, ...] = setting(
        ("scope", "scp", "groups", "roles"),
        "Claims whose values count as granted scopes (space-separated strings or lists).",
    )
    metrics_local_without_token: bool = setting(
        True,
        "Loopback callers (not forwarded by a proxy) may read /metrics without a token; off: always a token.",
    )
    public: tuple[str, ...] = setting(
        (),
        "Actions open without a token (e.g. ['static'] for the docroot); admin and exec never.",
    )


@dataclass(frozen=True)
class ScopesSection:
    """[scopes]: which token scopes grant which action (any one suffices)."""

    static: tuple[str, ...] = setting(("slicerweb.static",), "Scopes that may read static pages.")
    dicomweb_read: tuple[str, ...] = setting(("dicomweb.read",), "Scopes for QIDO/WADO.")
    dicomweb_write: tuple[str, ...] = setting(("dicomweb.write",), "Scopes for STOW-RS.")
    dicomweb_delete: tuple[str, ...] = setting(
        ("dicomweb.delete",), "Scopes for DELETE /dicom/studies/... (also needs features.dicomweb_delete).")
    slicer_read: tuple[str, ...] = setting(("slicer.read",), "Scopes for GET on /slicer.")
    slicer_write: tuple[str, ...] = setting(("slicer.write",), "Scopes for scene-changing /slicer calls.")
    exec: tuple[str, ...] = setting(("slicer.exec",), "Scopes for /slicer/exec (also needs exec on).")
    admin: tuple[str, ...] = setting(("slicerweb.admin",), "Scopes for /admin (feature toggles).")
    metrics: tuple[str, ...] = setting(("slicerweb.metrics",), "Scopes for GET /metrics (a Prometheus scraper).")

    def granting(self, action: str) -> tuple[str, ...]:
        """The scopes that grant `action` (one of policy.ACTIONS); none for an unknown action."""
        scopes: tuple[str, ...] = getattr(self, action, ())
        return scopes


@dataclass(frozen=True)
class ViewerSection:
    """[viewer]: how the bundled OHIF (/browse) signs in; served as /browse/app-config.js."""

    oidc_client_id: str = setting(
        "",
        "OHIF's public OIDC client (authorization code + PKCE S256); empty: OHIF does not sign in (loopback "
        "use).",
    )
    oidc_authority: str = setting(
        "",
        "Issuer URL OHIF signs in at (its origin joins the CSP connect-src); empty: auth.issuer.",
    )
    oidc_scope: str = setting(
        "openid dicomweb.read offline_access",
        "Scopes OHIF asks for, in the IdP's spelling (Entra: 'openid api://slicerweb/dicomweb.read ...'); "
        "offline_access gets a refresh token, so a session outlives the access token without an iframe.",
    )
    admin_scope: str = setting(
        "openid slicerweb.admin",
        "Scopes the admin console (/admin) asks for, in the IdP's spelling; it signs in with oidc_client_id like "
        "OHIF, so register https://<host>/admin/ as a redirect URI of that client too.",
    )



@dataclass(frozen=True)
class IndexSection:
    """[index]: where the DICOM index lives (SQLite in the data directory, or a shared PostgreSQL)."""

    url: str = setting(
        "", "Where the DICOM index lives: empty means SQLite in <data_dir>/dicom/index.sqlite; "
            "'postgresql://user@host/db' a PostgreSQL database shared by every instance (see deploy/README.md).")

@dataclass(frozen=True)
class Setting:
    """One policy key as the loader and the docs see it (derived from a section's field)."""

    section: str
    key: str
    type: type  # the TOML type: str, int, bool or list (a list of strings, held as a tuple)
    default: object
    help: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None

    @property
    def path(self) -> str:
        """The dotted key, e.g. `limits.body_timeout`."""
        return f"{self.section}.{self.key}"


# Section name in the TOML file -> its dataclass, in the order the docs list them.
SECTION_TYPES: dict[str, type] = {
    "server": ServerSection,
    "features": FeaturesSection,
    "cors": CorsSection,
    "limits": LimitsSection,
    "logging": LoggingSection,
    "audit": AuditSection,
    "auth": AuthSection,
    "scopes": ScopesSection,
    "viewer": ViewerSection,
    "index": IndexSection,
}

# Python field type -> TOML type (lists are held as tuples so a Policy stays immutable and hashable).
_TOML_TYPES: dict[object, type] = {str: str, int: int, bool: bool, tuple[str, ...]: list}


def _settings_of(section: str, cls: type) -> Iterator[Setting]:
    hints = get_type_hints(cls)
    for f in fields(cls):
        hint = hints[f.name]
        choices: tuple[str, ...] = get_args(hint) if get_origin(hint) is Literal else ()
        toml_type = str if choices else _TOML_TYPES[hint]
        yield Setting(section, f.name, toml_type, f.default, f.metadata["help"], choices, f.metadata["minimum"],
                      f.metadata["maximum"])


SETTINGS: tuple[Setting, ...] = tuple(s for name, cls in SECTION_TYPES.items() for s in _settings_of(name, cls))
