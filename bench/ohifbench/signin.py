"""Sign-in for bench/ohif: the demo stack's issuer and OHIF client, and its login form driven in the browser.

The issuer is the one `make run` starts (`start_demo_issuer`): HTTPS with a certificate of a local
CA, OHIF's public client (PKCE) redirecting exactly to each site's /browse/callback, and one user
with a random password. Every browser context signs in through the real login page before the clock
starts, as a reader does once per session; OHIF then sends that user's access token on every
DICOMweb request, and nginx checks it for either server.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page

from slicerweb.devstack.certs import make_certs
from slicerweb.devstack.demo_stack import start_demo_issuer

SERVER_NAME = "localhost"
AUDIENCE = "https://slicer.bench.lan"
READER = "bench-reader"
READER_SCOPES = "openid offline_access dicomweb.read"
STUDY_LIST_QUERY = "/dicom/studies?"


def site_url(https_port: int) -> str:
    return f"https://{SERVER_NAME}:{https_port}"


@dataclass
class Signin:
    """A reader's credentials on the issuer's login page; `token` is the access token of the last sign-in."""

    issuer_url: str
    user: str
    password: str
    token: str = field(default="", repr=False)

    def sign_in(self, page: Page, site: str, timeout_ms: float) -> None:
        """Open OHIF's study list at `site`, sign in on the issuer's page; return once the list's query is answered."""
        with page.expect_response(lambda response: STUDY_LIST_QUERY in response.url, timeout=timeout_ms) as listed:
            page.goto(f"{site}/browse/", wait_until="commit", timeout=timeout_ms)
            page.wait_for_url(f"{self.issuer_url}/**", timeout=timeout_ms)
            page.locator("#username").fill(self.user)
            page.locator("#password").fill(self.password)
            page.get_by_role("button", name="Sign in").click(timeout=timeout_ms)
        response = listed.value
        if response.status != 200:
            raise SigninError(f"OHIF's study list query answered {response.status} after signing in at {site}")
        self.token = response.request.all_headers().get("authorization", "").removeprefix("Bearer ")


class SigninError(RuntimeError):
    """Signing in did not give OHIF a working token."""


@dataclass
class BenchIssuer:
    """The running issuer, its CA (which the app trusts for the JWKS) and the reader's credentials."""

    process: subprocess.Popen[str]
    url: str
    ca_file: Path
    signin: Signin

    def stop(self) -> None:
        with self.process:  # waits, and closes its stdout pipe
            self.process.terminate()


def start_bench_issuer(directory: Path, https_ports: list[int]) -> BenchIssuer:
    """The issuer for the sites at `https_ports` (each https://localhost:<port>), with one reader."""
    certs = make_certs(directory / "certs", [SERVER_NAME, "127.0.0.1", "::1"])
    password = secrets.token_urlsafe(12)
    process, url = start_demo_issuer(directory / "issuer", [site_url(port) for port in https_ports],
                                     {READER: (password, READER_SCOPES)}, secrets.token_urlsafe(24), certs,
                                     audience=AUDIENCE)
    return BenchIssuer(process, url, certs.ca_cert, Signin(url, READER, password))
