"""The demo stack `make run` starts: issuer with a demo user and OHIF's client, app, proxy, one CA.

`deploy/run-stack` and the browser tests both start it through `start_demo_stack`, so what is tested
is what a person gets. Every component is real and loopback-only:

- the local OIDC issuer over HTTPS (certificate from the stack's CA: an https page may only call an
  https issuer), with a demo user and an admin (for /admin) whose passwords are random per stack,
  OHIF's public client (PKCE, redirect URIs exactly `https://<name>:<port>/browse/callback` and
  `.../admin/`, the console's) and a confidential `cli` client for the curl token;
- the app on a Unix socket with JWT auth against that issuer, the static family public (the
  viewer's files must load before anyone has signed in) and OHIF's sign-in in `[viewer]`;
- nginx or Caddy on free high ports, CSP connect-src = this origin + the issuer's.
"""

from __future__ import annotations

import secrets
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from .certs import CertPaths, make_certs
from .stack import Stack, free_port, start_issuer, start_stack

AUDIENCE = "https://slicerweb.local"
CLI_CLIENT = "cli"
CLI_SCOPES = ("slicerweb.static dicomweb.read dicomweb.write slicer.read slicer.write slicer.exec "
              "slicerweb.admin")
VIEWER_CLIENT = "ohif"
# The admin console (/admin) signs in with OHIF's client too: the user's own scopes decide who gets admin.
VIEWER_CLIENT_SCOPES = "openid profile offline_access dicomweb.read slicerweb.admin"
DEMO_USER = "demo"
DEMO_USER_SCOPES = "openid profile offline_access dicomweb.read dicomweb.write slicer.read slicer.write"
DEMO_ADMIN = "admin"  # for the admin console (/admin); the demo user holds no admin scope
DEMO_ADMIN_SCOPES = "openid profile slicerweb.admin"


@dataclass
class DemoStack:
    stack: Stack
    viewer_url: str             # https://name:port/browse
    issuer_url: str
    user: str
    password: str
    cli_secret: str
    issuer_cert: Path           # the issuer's TLS chain (same CA as the proxy's; its own key)
    admin_password: str = ""    # DEMO_ADMIN's, when the stack made its own users

    def token(self, scope: str) -> str:
        """An access token for curl (client credentials of the `cli` client)."""
        response = httpx.post(f"{self.issuer_url}/token", data={"grant_type": "client_credentials", "scope": scope},
                              auth=(CLI_CLIENT, self.cli_secret), timeout=10,
                              verify=ssl.create_default_context(cafile=str(self.stack.certs.ca_cert)))
        response.raise_for_status()
        return str(response.json()["access_token"])

    def stop(self) -> None:
        self.stack.stop()


DEMO_FEATURES = "dicomweb_write = true\nexec_toggle = true"


def demo_policy(issuer_url: str, server_name: str, ca_file: Path, *, audience: str = AUDIENCE,
                features: str = DEMO_FEATURES, auth_extra: str = "") -> str:
    """The app's policy: JWT against the local issuer, viewer public, OHIF signs in.

    `features` (the [features] lines) and `auth_extra` (more [auth] lines) let bench/ohif run the
    same sign-in with its own settings.
    """
    auth_extra = f"{auth_extra}\n" if auth_extra else ""
    return f"""# Written by deploy/run-stack: JWT auth against the local issuer, behind the local proxy.
[server]
allowed_hosts = ["{server_name}"]
trusted_proxies = ["127.0.0.1"]

[features]
{features}

[auth]
mode = "jwt"
issuer = "{issuer_url}"
audience = "{audience}"
ca_file = "{ca_file}"
{auth_extra}# The viewer's files (OHIF at /browse, the docroot) hold no patient data and must load before anyone
# has signed in (a page load carries no bearer token); every /dicom, /slicer and /admin call still
# needs one, at the proxy and in the app.
public = ["static"]

[viewer]
oidc_client_id = "{VIEWER_CLIENT}"
oidc_scope = "openid offline_access dicomweb.read"
"""


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def start_demo_issuer(directory: Path, sites: list[str], users: dict[str, tuple[str, str]], cli_secret: str,
                      certs: CertPaths, *, token_lifetime: float = 3600.0,
                      audience: str = AUDIENCE) -> tuple[subprocess.Popen[str], str]:
    """The issuer over HTTPS (a server certificate of `certs`' CA) with `users`, OHIF's public client
    redirecting exactly to each of `sites`' /browse/callback and /admin/ (the admin console), and the
    confidential `cli` client."""
    # The issuer keeps this certificate; start_stack issues each proxy a fresh one (from the same CA
    # when it shares the certs directory).
    tls = directory / "tls"
    tls.mkdir(parents=True, exist_ok=True)
    shutil.copy2(certs.chain, tls / "chain.pem")
    shutil.copy2(certs.key, tls / "key.pem")
    return start_issuer(directory, audience,
                        [f"{CLI_CLIENT}:{cli_secret}:{CLI_SCOPES.replace(' ', ',')}",
                         f"{VIEWER_CLIENT}::{VIEWER_CLIENT_SCOPES.replace(' ', ',')}"],
                        redirect_uris=[uri for site in sites
                                       for uri in (f"{site}/browse/callback", f"{site}/admin/")],
                        post_logout_redirect_uris=[f"{site}/browse/" for site in sites],
                        users=users, certfile=tls / "chain.pem", keyfile=tls / "key.pem",
                        extra_args=["--lifetime", str(token_lifetime)])


def start_demo_stack(proxy: str, directory: Path, *, server_name: str = "localhost", https_port: int = 0,
                     http_port: int = 0, tls_profile: str = "intermediate", demo_data: bool = True,
                     token_lifetime: float = 3600.0, users: dict[str, tuple[str, str]] | None = None,
                     policy_toml: str | None = None, instances: int = 1, index: str = "sqlite",
                     workers: int = 1) -> DemoStack:
    """Start issuer, app and `proxy` in `directory`; `users` replaces the one random-password demo user;
    `instances`, `index` and `workers` as in `start_stack`."""
    directory.mkdir(parents=True, exist_ok=True)
    https_port = https_port or free_port()
    suffix = "" if https_port == 443 else f":{https_port}"
    site = f"https://{server_name}{suffix}"
    certs = make_certs(directory / "certs", [server_name, "127.0.0.1", "::1"])
    password = secrets.token_urlsafe(12)
    admin_password = secrets.token_urlsafe(12) if users is None else ""
    users = users if users is not None else {DEMO_USER: (password, DEMO_USER_SCOPES),
                                             DEMO_ADMIN: (admin_password, DEMO_ADMIN_SCOPES)}
    cli_secret = secrets.token_urlsafe(24)
    issuer = start_demo_issuer(directory / "issuer", [site], users, cli_secret, certs, token_lifetime=token_lifetime)
    issuer_chain = directory / "issuer" / "tls" / "chain.pem"
    try:
        stack = start_stack(proxy, directory, policy_toml or demo_policy(issuer[1], server_name, certs.ca_cert),
                            server_name=server_name, tls_profile=tls_profile, issuer=issuer, https_port=https_port,
                            http_port=http_port, app_args=["--demo"] if demo_data else [],
                            csp_connect_extra=origin_of(issuer[1]), instances=instances, index=index,
                            workers=workers)
    except BaseException:
        issuer[0].terminate()
        issuer[0].wait(10)
        raise
    first_user = next(iter(users))
    return DemoStack(stack, f"{site}/browse", issuer[1], first_user, users[first_user][0], cli_secret, issuer_chain,
                     admin_password)
