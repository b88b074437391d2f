"""Render the proxy templates in `proxy/nginx` and `proxy/caddy` into a configuration directory.

Placeholders are `{{NAME}}` (nginx and Caddy both use `$` and `{}` themselves). Every placeholder
must be given a value and every value must be used, so a template and its renderer cannot drift.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..csp import PERMISSIONS_POLICY, console_content_security_policy, content_security_policy

PROXY_DIR = Path(__file__).resolve().parents[3] / "proxy"
PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
PROXIES = ("nginx", "caddy")
TLS_PROFILES = ("intermediate", "modern")


class TemplateError(ValueError):
    """A placeholder without a value, or a value no template uses."""


@dataclass(frozen=True)
class ProxySettings:
    """What a site needs: its name, ports, certificate and where the app listens."""

    server_name: str
    https_port: int
    http_port: int
    cert: Path
    key: Path
    app_socket: Path | None = None      # Unix socket of the app (preferred) ...
    app_address: str = ""               # ... or host:port on loopback; the designated instance (/slicer)
    peer_sockets: tuple[Path, ...] = ()  # further instances over the same index and storage (not /slicer)
    listen_address: str = "127.0.0.1"
    tls_profile: str = "intermediate"
    upload_max_body: str = "4g"
    csp_connect_extra: str = ""
    api_rate: str = "200r/s"            # nginx per-client request rate (Caddy: none without a plugin)
    nginx_user: str = "www-data"        # workers' user in the standalone nginx.conf ("" : none)


def values_for(proxy: str, settings: ProxySettings, conf_dir: Path, run_dir: Path) -> dict[str, str]:
    """The placeholder values of `proxy`'s templates."""
    if settings.tls_profile not in TLS_PROFILES:
        raise TemplateError(f"tls profile must be one of {', '.join(TLS_PROFILES)}")
    suffix = "" if settings.https_port == 443 else f":{settings.https_port}"
    common = {
        "SERVER_NAME": settings.server_name, "HTTPS_PORT": str(settings.https_port),
        "HTTP_PORT": str(settings.http_port), "HTTPS_PORT_SUFFIX": suffix, "CERT": str(settings.cert),
        "KEY": str(settings.key), "RUN_DIR": str(run_dir), "LISTEN_ADDRESS": settings.listen_address,
        "CSP": content_security_policy(settings.csp_connect_extra), "PERMISSIONS_POLICY": PERMISSIONS_POLICY,
        "CONSOLE_CSP": console_content_security_policy(settings.csp_connect_extra),
    }
    if proxy == "nginx":
        upstream = f"unix:{settings.app_socket}" if settings.app_socket else settings.app_address
        servers = [upstream, *(f"unix:{peer}" for peer in settings.peer_sockets)]
        # max_fails counts only with several servers (nginx never marks its only server down).
        app_servers = "\n    ".join(f"server {server} max_fails=1 fail_timeout=5s;" for server in servers)
        user = f"user {settings.nginx_user};" if settings.nginx_user else ""
        size = settings.upload_max_body
        return {**common, "APP_UPSTREAM": upstream, "APP_SERVERS": app_servers, "CONF_DIR": str(conf_dir),
                "USER_DIRECTIVE": user, "TLS_PROFILE": settings.tls_profile, "UPLOAD_MAX_BODY": size,
                "API_RATE": settings.api_rate}
    if proxy == "caddy":
        upstream = f"unix/{settings.app_socket}" if settings.app_socket else settings.app_address
        upstreams = " ".join([upstream, *(f"unix/{peer}" for peer in settings.peer_sockets)])
        protocols = "protocols tls1.3" if settings.tls_profile == "modern" else "protocols tls1.2 tls1.3"
        size = settings.upload_max_body.upper().replace("G", "GB").replace("M", "MB").replace("K", "KB")
        return {**common, "APP_UPSTREAM": upstream, "APP_UPSTREAMS": upstreams, "TLS_PROTOCOLS": protocols,
                "UPLOAD_MAX_BODY": size}
    raise TemplateError(f"proxy must be one of {', '.join(PROXIES)}")


def fill(text: str, values: dict[str, str], used: set[str], name: str) -> str:
    """Replace every `{{NAME}}` in `text`; a missing value is an error."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            raise TemplateError(f"{name}: no value for {{{{{key}}}}}")
        used.add(key)
        return values[key]

    return PLACEHOLDER.sub(one, text)


def render(proxy: str, settings: ProxySettings, conf_dir: Path, run_dir: Path,
           template_dir: Path | None = None) -> Path:
    """Render `proxy`'s templates into `conf_dir`; returns the main config file."""
    source = template_dir or PROXY_DIR / proxy
    values = values_for(proxy, settings, conf_dir, run_dir)
    used: set[str] = set()
    conf_dir.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.rglob("*")):
        if path.is_dir() or path.name.endswith((".md", "~")):
            continue
        relative = path.relative_to(source)
        target = conf_dir / str(relative).removesuffix(".template")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(fill(path.read_text(), values, used, str(relative)))
    unused = set(values) - used
    if unused:
        raise TemplateError(f"{proxy} templates do not use: {', '.join(sorted(unused))}")
    if proxy == "nginx":
        mime = Path("/etc/nginx/mime.types")
        if mime.exists():
            shutil.copyfile(mime, conf_dir / "mime.types")
        else:
            (conf_dir / "mime.types").write_text("types { text/html html; application/json json; }\n")
        return conf_dir / "nginx.conf"
    return conf_dir / "Caddyfile"
