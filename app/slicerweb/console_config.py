"""The admin console's sign-in settings, served at /admin/config.json (public, like OHIF's app-config.js).

The console (docroot/admin/) signs in exactly as OHIF does: authorization code + PKCE S256 with the
policy's viewer client at the same issuer (viewer_config.py), asking for `viewer.admin_scope`, and
returning to `/admin/`. With `auth.mode = "none"` (loopback only) it calls the admin API without a
token, as the local operator. JSON rather than a script: the console's CSP allows no inline or
generated code, and a config is data.
"""

from __future__ import annotations

from typing import Any

from .csp import console_content_security_policy
from .policy import Policy
from .viewer_config import authority, authority_origin

REDIRECT_PATH = "/admin/"


def console_settings(policy: Policy) -> dict[str, Any]:
    """What the console needs to sign in (all of it public: a public client id and the issuer URL)."""
    return {"auth": policy.auth.mode, "authority": authority(policy), "client_id": policy.viewer.oidc_client_id,
            "scope": policy.viewer.admin_scope, "redirect_path": REDIRECT_PATH}


def console_csp(policy: Policy) -> str:
    """The console's own CSP: no inline or eval'd code at all, connect-src = this origin + the issuer."""
    return console_content_security_policy(authority_origin(policy))
