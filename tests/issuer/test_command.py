"""`slicerweb issuer` as typed: hash-password, clear one-line refusals, and HTTPS with the local CA."""

from __future__ import annotations

import ssl
import subprocess
import sys
from pathlib import Path

import httpx

from slicerweb.devstack.certs import make_certs
from slicerweb.devstack.stack import start_issuer
from slicerweb.issuer.users import verify_password
from tests.issuer.conftest import REDIRECT, USERS, VIEWER, Browser, redirected
from tests.oidc import AUDIENCE
from tests.support import subprocess_env


def _issuer(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "slicerweb", "issuer", *args], input=stdin, capture_output=True,
                          text=True, env=subprocess_env(), timeout=60)


def test_hash_password_reads_stdin_and_prints_a_hash() -> None:
    done = _issuer("hash-password", stdin="horse battery staple\n")
    assert done.returncode == 0 and done.stderr == ""
    encoded = done.stdout.strip()
    assert encoded.startswith("scrypt$") and "horse" not in encoded
    assert verify_password("horse battery staple", encoded) and not verify_password("horse battery", encoded)
    empty = _issuer("hash-password", stdin="")
    assert empty.returncode == 2 and empty.stderr.count("\n") == 1 and "empty password" in empty.stderr


def test_issuer_help_is_its_own_and_listed_in_the_main_help() -> None:
    """`slicerweb issuer ...` goes to the issuer's own parser (cli.py never imports it otherwise)."""
    own = _issuer("--help")
    assert own.returncode == 0 and own.stdout.startswith("usage: slicerweb issuer ")
    assert "--keys KEYS" in own.stdout and "hash-password" in own.stdout
    main = subprocess.run([sys.executable, "-m", "slicerweb", "--help"], capture_output=True, text=True,
                          env=subprocess_env(), timeout=60)
    assert main.returncode == 0 and "run the local OIDC test issuer" in main.stdout
    wrong = _issuer("--no-such-option")
    assert wrong.returncode == 2 and "slicerweb issuer: error: unrecognized arguments: --no-such-option" in wrong.stderr


def test_missing_keys_or_readable_users_file_is_one_line(tmp_path: Path) -> None:
    missing = _issuer("--audience", AUDIENCE)
    assert missing.returncode == 2
    assert missing.stderr == "slicerweb issuer: --keys FILE and --audience URI are required\n"
    users = tmp_path / "users.json"
    users.write_text('{"users": []}')
    users.chmod(0o644)
    exposed = _issuer("--keys", str(tmp_path / "k.json"), "--audience", AUDIENCE, "--users", str(users))
    assert exposed.returncode == 2 and exposed.stderr.count("\n") == 1 and "chmod 600" in exposed.stderr
    assert "Traceback" not in exposed.stderr


def test_sign_in_over_https_with_host_only_secure_cookies(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "certs", ["localhost", "127.0.0.1", "::1"])
    process, url = start_issuer(tmp_path / "issuer", AUDIENCE, [f"{VIEWER}::dicomweb.read"],
                                redirect_uris=[REDIRECT], users={"alice": USERS["alice"]},
                                certfile=certs.chain, keyfile=certs.key)
    try:
        assert url.startswith("https://127.0.0.1:")
        with httpx.Client(verify=ssl.create_default_context(cafile=str(certs.ca_cert)), timeout=10) as http:
            browser = Browser(http, url)
            page = browser.authorize()
            cookie = page.headers["set-cookie"]
            assert cookie.startswith("__Host-slicerweb-issuer-browser=") and "Secure" in cookie and "Path=/" in cookie
            answer = browser.submit(browser.form(), "alice", USERS["alice"][0])
            assert answer.status_code == 303
            session_cookie = answer.headers["set-cookie"]
            assert session_cookie.startswith("__Host-slicerweb-issuer-session=") and "Secure" in session_cookie
            assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
            tokens = browser.redeem(redirected(answer, REDIRECT)["code"])
            assert tokens.status_code == 200 and tokens.json()["scope"] == "openid dicomweb.read"
            assert browser.authorize().status_code == 303   # the secure session cookie came back
    finally:
        with process:  # waits, and closes its stdout pipe
            process.terminate()
