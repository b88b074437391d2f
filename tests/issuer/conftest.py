"""A real issuer process with users and a public viewer client, and a scripted browser for its pages.

`signin` starts `slicerweb issuer` through `devstack.stack.start_issuer(users=...)` (the path the
stack uses), once per module. `signin.browser()` is an httpx client with its own cookie jar (and,
optionally, its own loopback source address) that does what a browser does with the login page:
GET /authorize, read the hidden fields, POST the form, follow nothing automatically.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from slicerweb.devstack.stack import start_issuer
from slicerweb.issuer.server import s256
from slicerweb.issuer.signing import SigningKeys
from tests.oidc import AUDIENCE, RunningIssuer

VIEWER = "viewer"
REDIRECT = "http://127.0.0.1:3000/browse/callback"
LOGOUT = "http://127.0.0.1:3000/browse/signed-out"
APP_ORIGIN = "http://127.0.0.1:3000"
CLIENT_SCOPES = "slicerweb.static dicomweb.read slicer.read slicer.write"
USERS = {"alice": ("correct horse battery", "slicerweb.static dicomweb.read slicer.read"),
         "bob": ("bob's good password", "dicomweb.read"),
         "carol": ("carol-pass", "dicomweb.read")}
FREE_ATTEMPTS, MAX_DELAY = 3, 1.0
_FIELD = re.compile(r'name="(request|csrf)" value="([^"]*)"')


@dataclass
class Browser:
    """One user agent: a cookie jar, a PKCE verifier and nonce per sign-in."""

    http: httpx.Client
    issuer: str
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    def authorize(self, **overrides: str | None) -> httpx.Response:
        query: dict[str, Any] = {"response_type": "code", "client_id": VIEWER, "redirect_uri": REDIRECT,
                                 "scope": "openid dicomweb.read slicer.read", "state": "s-1",
                                 "nonce": self.nonce, "code_challenge": s256(self.verifier),
                                 "code_challenge_method": "S256"}
        query.update(overrides)
        return self.http.get(f"{self.issuer}/authorize", params={k: v for k, v in query.items() if v is not None})

    def form(self, **overrides: str | None) -> dict[str, str]:
        """The login form's hidden fields after GET /authorize."""
        page = self.authorize(**overrides)
        assert page.status_code == 200, page.text
        return dict(_FIELD.findall(page.text))

    def submit(self, form: dict[str, str], username: str, password: str) -> httpx.Response:
        return self.http.post(f"{self.issuer}/login", data={**form, "username": username, "password": password})

    def sign_in(self, username: str = "alice", **overrides: str | None) -> dict[str, str]:
        """Log in (or reuse the issuer's session); returns the redirect's query (code, state, iss)."""
        page = self.authorize(**overrides)
        if page.status_code == 303:
            return redirected(page, REDIRECT)
        assert page.status_code == 200, page.text
        answer = self.submit(dict(_FIELD.findall(page.text)), username, USERS[username][0])
        assert answer.status_code == 303, answer.text
        return redirected(answer, REDIRECT)

    def redeem(self, code: str, verifier: str | None = None) -> httpx.Response:
        return self.http.post(f"{self.issuer}/token", data={
            "grant_type": "authorization_code", "code": code, "client_id": VIEWER, "redirect_uri": REDIRECT,
            "code_verifier": verifier or self.verifier})

    def refresh(self, token: str) -> httpx.Response:
        return self.http.post(f"{self.issuer}/token", data={"grant_type": "refresh_token", "refresh_token": token,
                                                           "client_id": VIEWER})


def redirected(answer: httpx.Response, target: str) -> dict[str, str]:
    """The query of a redirect to `target` (asserting it goes exactly there)."""
    location = answer.headers["location"]
    assert location.split("?", 1)[0] == target, location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}


@dataclass
class SignInIssuer:
    url: str
    running: RunningIssuer
    browsers: list[httpx.Client] = field(default_factory=list)

    def browser(self, source_address: str = "127.0.0.1") -> Browser:
        http = httpx.Client(transport=httpx.HTTPTransport(local_address=source_address), timeout=10)
        self.browsers.append(http)
        return Browser(http, self.url)


@pytest.fixture(scope="module")
def signin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SignInIssuer]:
    directory: Path = tmp_path_factory.mktemp("signin-issuer")
    process, url = start_issuer(
        directory, AUDIENCE, [f"{VIEWER}::{CLIENT_SCOPES.replace(' ', ',')}", "tests:tests-secret:slicer.read"],
        redirect_uris=[REDIRECT], post_logout_redirect_uris=[LOGOUT], users=USERS,
        extra_args=["--login-free-attempts", str(FREE_ATTEMPTS), "--login-max-delay", str(MAX_DELAY)])
    running = RunningIssuer(url, SigningKeys.load_or_create(directory / "issuer-keys.json"), process)
    issuer = SignInIssuer(url, running)
    yield issuer
    for http in issuer.browsers:
        http.close()
    running.stop()
