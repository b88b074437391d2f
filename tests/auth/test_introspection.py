"""Opaque tokens (auth.mode = "introspection"): the app asks the issuer (RFC 7662) who they belong to."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import start_server
from tests.oidc import CLIENT, SECRET, start_issuer


def test_opaque_tokens_are_introspected(tmp_path: Path) -> None:
    issuer = start_issuer(tmp_path / "issuer", extra_args=["--opaque"])
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    (tmp_path / "app").mkdir()
    live = start_server(tmp_path / "app", policy_toml=f"""
[auth]
mode = "introspection"
issuer = "{issuer.url}"
audience = "{issuer.audience}"
introspection_url = "{issuer.url}/introspect"
client_id = "{CLIENT}"
client_secret_file = "{secret_file}"
""")
    try:
        token = issuer.client_credentials("slicer.read")
        assert token.count(".") == 0  # opaque, not a JWT
        with live.client() as http:
            ok = http.get("/slicer/system/version", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200
            scoped = http.get("/dicom/studies", headers={"Authorization": f"Bearer {token}"})
            assert scoped.status_code == 403
            assert scoped.headers["www-authenticate"] == (
                'Bearer realm="slicerweb", error="insufficient_scope", '
                'error_description="needs one of the scopes: dicomweb.read", scope="dicomweb.read"')
            assert scoped.json()["code"] == "insufficient_scope"
            unknown = http.get("/slicer/system/version", headers={"Authorization": "Bearer made-up"})
            assert unknown.status_code == 401
            assert 'error="invalid_token"' in unknown.headers["www-authenticate"]
    finally:
        live.stop()
        issuer.stop()
