"""The viewer through real nginx and real Caddy: public files, protected data, one set of headers.

Contract (policy `auth.public = ["static"]`, OHIF signing in at the issuer): the viewer's files, its
client-side routes and its generated app-config.js load without a token through both proxies; every
/dicom, /slicer and /admin call is refused without one at the edge (401 with the RFC 6750 challenge),
and a token without dicomweb.read gets 403 insufficient_scope; a bearer token on a public file is
still checked. Both proxies send the same security headers as each other, and the CSP the app builds
(connect-src = this origin + the issuer's).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from slicerweb.csp import PERMISSIONS_POLICY, content_security_policy
from slicerweb.devstack.demo_stack import origin_of
from slicerweb.devstack.stack import Stack, start_stack
from tests.oidc import RunningIssuer, auth_policy
from tests.proxy.fronts import PROXIES, stack_client

pytestmark = pytest.mark.proxy
CONFIG = "window.config = {routerBasename: '/browse', dataSources: []};\n"
INDEX = "<!doctype html><title>OHIF</title><div id=root></div>"
HEADERS = ("strict-transport-security", "x-content-type-options", "referrer-policy", "x-frame-options",
           "cross-origin-opener-policy", "cross-origin-resource-policy", "permissions-policy",
           "content-security-policy")
seen_headers: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="module")
def docroot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("docroot")
    (root / "browse").mkdir()
    (root / "browse" / "index.html").write_text(INDEX)
    (root / "browse" / "app-config.js").write_text(CONFIG)
    (root / "browse" / "app.bundle.js").write_text("console.log('ohif')")
    return root


@pytest.fixture(scope="module", params=PROXIES)
def stack(request: pytest.FixtureRequest, issuer: RunningIssuer, docroot: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    policy = auth_policy(issuer, extra=f'trusted_proxies = ["127.0.0.1"]\ndocroot = "{docroot}"',
                         allowed_hosts='["localhost"]')
    policy = policy.replace("failure_limit = 1000", 'failure_limit = 1000\npublic = ["static"]')
    policy += '\n[viewer]\noidc_client_id = "ohif"\n'
    running = start_stack(request.param, tmp_path_factory.mktemp(request.param), policy,
                          csp_connect_extra=origin_of(issuer.url))
    yield running
    running.stop()


@pytest.fixture
def http(stack: Stack) -> Iterator[httpx.Client]:
    with stack_client(stack) as client:
        yield client


@pytest.mark.parametrize("path", ["/browse", "/browse/", "/browse/viewer?StudyInstanceUIDs=1.2.3",
                                  "/browse/callback?code=x&state=y", "/browse/app.bundle.js"])
def test_viewer_files_load_without_a_token(http: httpx.Client, path: str) -> None:
    response = http.get(path, follow_redirects=True)
    assert response.status_code == 200, response.text
    expected = "console.log('ohif')" if path.endswith(".js") else INDEX
    assert response.text == expected


def test_generated_config_names_the_issuer(http: httpx.Client, issuer: RunningIssuer) -> None:
    response = http.get("/browse/app-config.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert response.text.startswith(CONFIG.rstrip())
    assert f'"authority": "{issuer.url}"' in response.text and '"client_id": "ohif"' in response.text


@pytest.mark.parametrize(("method", "path"), [("GET", "/dicom/studies"), ("GET", "/dicom/studies/1.2/series"),
                                               ("GET", "/slicer/system/version"), ("GET", "/admin/features"),
                                               ("PUT", "/admin/features/exec"), ("POST", "/dicom/studies")])
def test_data_and_admin_need_a_token_at_the_edge(http: httpx.Client, method: str, path: str) -> None:
    response = http.request(method, path)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["success"] is False


def test_token_without_dicomweb_read_is_403(http: httpx.Client, issuer: RunningIssuer) -> None:
    token = issuer.mint("slicer.read")
    response = http.get("/dicom/studies", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    allowed = http.get("/dicom/studies", headers={"Authorization": f"Bearer {issuer.mint('dicomweb.read')}"})
    assert allowed.status_code in (200, 204), allowed.text


def test_a_bad_token_on_a_public_file_is_still_refused(http: httpx.Client) -> None:
    """Public means 'no token needed', not 'tokens ignored': a forged one is never waved through."""
    response = http.get("/browse/", headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code == 401


def test_security_headers_are_the_apps_and_the_same_through_both_proxies(
        http: httpx.Client, stack: Stack, issuer: RunningIssuer) -> None:
    for path in ("/browse/", "/browse/app-config.js", "/dicom/studies"):
        response = http.get(path)
        headers = {name: response.headers.get(name, "") for name in HEADERS}
        assert headers["content-security-policy"] == content_security_policy(origin_of(issuer.url)), path
        assert headers["permissions-policy"] == PERMISSIONS_POLICY
        assert headers["strict-transport-security"] == "max-age=63072000"
        assert len(response.headers.get_list("content-security-policy")) == 1, path
        seen_headers.setdefault(path, {})
        for proxy, other in seen_headers[path].items():
            assert other == headers, f"{path}: {stack.proxy} and {proxy} differ"
        seen_headers[path][stack.proxy] = headers
