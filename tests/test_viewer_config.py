"""/browse/app-config.js: the installed OHIF config plus sign-in settings from the policy's [viewer].

Contract: with a viewer client the served script ends with `window.config.oidc = [...]` (authority =
the issuer the app trusts, code flow, /callback redirect, the configured scopes) and the CSP's
connect-src admits exactly the issuer's origin; without one the installed file is served unchanged
and connect-src stays 'self'. With `auth.public = ["static"]` the viewer's files need no token while
/dicom still does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from slicerweb.policy import PolicyError

BASE = "window.config = {routerBasename: '/browse', dataSources: []};\n"
ISSUER = "https://login.hospital.lan:8443/realms/radiology"


@pytest.fixture
def docroot(tmp_path: Path) -> Path:
    root = tmp_path / "docroot"
    (root / "browse").mkdir(parents=True)
    (root / "browse" / "app-config.js").write_text(BASE)
    (root / "browse" / "index.html").write_text("<div id=root></div>")
    return root


def jwt_policy(make_policy, docroot: Path, **extra):  # type: ignore[no-untyped-def]
    return make_policy(server__docroot=str(docroot), auth__mode="jwt", auth__issuer=ISSUER,
                       auth__audience="https://slicer.hospital.lan", auth__public=["static"], **extra)


def generated_oidc(script: str) -> list[dict]:
    match = re.search(r"^window\.config\.oidc = (.*);$", script, re.M)
    assert match, script
    return json.loads(match.group(1))


def connect_src(csp: str) -> list[str]:
    return next(d.split()[1:] for d in csp.split(";") if d.strip().startswith("connect-src"))


async def test_viewer_client_adds_oidc_and_issuer_origin(make_app, make_policy, docroot: Path) -> None:
    app, _ = make_app(jwt_policy(make_policy, docroot, viewer__oidc_client_id="ohif"))
    response = await app.test_client().get("/browse/app-config.js")
    assert response.status_code == 200
    assert response.mimetype == "application/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    script = (await response.get_data()).decode()
    assert script.startswith(BASE.rstrip())
    [oidc] = generated_oidc(script)
    assert oidc["authority"] == ISSUER
    assert oidc["client_id"] == "ohif"
    assert oidc["response_type"] == "code"
    assert oidc["redirect_uri"] == "/callback"
    assert oidc["scope"].split() == ["openid", "dicomweb.read", "offline_access"]
    assert connect_src(response.headers["Content-Security-Policy"]) == ["'self'", "https://login.hospital.lan:8443"]


async def test_separate_authority_and_scope(make_app, make_policy, docroot: Path) -> None:
    app, _ = make_app(jwt_policy(make_policy, docroot, viewer__oidc_client_id="ohif",
                                 viewer__oidc_authority="https://idp.example/tenant/v2.0/",
                                 viewer__oidc_scope="openid api://slicerweb/dicomweb.read"))
    response = await app.test_client().get("/browse/app-config.js")
    [oidc] = generated_oidc((await response.get_data()).decode())
    assert oidc["authority"] == "https://idp.example/tenant/v2.0"
    assert oidc["scope"] == "openid api://slicerweb/dicomweb.read"
    assert connect_src(response.headers["Content-Security-Policy"]) == ["'self'", "https://idp.example"]


async def test_without_viewer_client_the_installed_config_is_served(make_app, make_policy, docroot: Path) -> None:
    app, _ = make_app(make_policy(server__docroot=str(docroot)))
    response = await app.test_client().get("/browse/app-config.js")
    assert (await response.get_data()).decode() == BASE
    assert connect_src(response.headers["Content-Security-Policy"]) == ["'self'"]


async def test_viewer_files_are_public_and_dicom_is_not(make_app, make_policy, docroot: Path) -> None:
    app, _ = make_app(jwt_policy(make_policy, docroot, viewer__oidc_client_id="ohif"))
    client = app.test_client()
    for path in ("/browse/app-config.js", "/browse/", "/browse/viewer?StudyInstanceUIDs=1.2.3", "/browse/callback"):
        response = await client.get(path)
        assert response.status_code == 200, path
    refused = await client.get("/dicom/studies")
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await refused.get_json())["success"] is False


def test_viewer_client_without_issuer_is_a_policy_error(make_policy) -> None:
    with pytest.raises(PolicyError, match=r"viewer\.oidc_client_id .*needs an issuer"):
        make_policy(viewer__oidc_client_id="ohif")
    with pytest.raises(PolicyError, match=r"viewer\.oidc_authority .*issuer.s URL"):
        make_policy(viewer__oidc_client_id="ohif", viewer__oidc_authority="login.hospital.lan")
