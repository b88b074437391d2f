"""Registered OAuth clients and client authentication at the token endpoint."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Client:
    """A registered client: a secret (None: public, PKCE required), its scopes and exact URIs."""

    client_id: str
    secret: str | None
    scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()

    @property
    def public(self) -> bool:
        return self.secret is None

    @classmethod
    def parse(cls, spec: str, redirect_uris: tuple[str, ...] = (),
              post_logout_redirect_uris: tuple[str, ...] = ()) -> Client:
        """'id:secret:scope1,scope2' (empty secret: public client).

        >>> Client.parse("cli:s3cret:dicomweb.read,slicer.read").scopes
        ('dicomweb.read', 'slicer.read')
        """
        client_id, secret, scopes = [*spec.split(":", 2), "", ""][:3]
        if not client_id:
            raise ValueError(f"client spec {spec!r}: expected id:secret:scope1,scope2")
        return cls(client_id, secret or None, tuple(s for s in scopes.replace(",", " ").split() if s),
                   redirect_uris, post_logout_redirect_uris)


def origin_of(uri: str) -> str:
    """scheme://host[:port] of `uri` (the browser's Origin for pages under it)."""
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def authenticate(clients: Mapping[str, Client], authorization: str | None, form: Any) -> Client | None:
    """The confidential client proven by HTTP Basic or client_secret_post; None otherwise."""
    client_id, secret = form.get("client_id", ""), form.get("client_secret")
    if authorization and authorization.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(authorization[6:], validate=True).decode().partition(":")
        except (ValueError, binascii.Error):
            return None
    client = clients.get(client_id)
    if client is None or client.secret is None or secret is None:
        return None
    return client if hmac.compare_digest(client.secret.encode(), secret.encode()) else None
