"""deploy/run-stack and deploy/render-proxy: the commands an admin runs.

run-stack prints the viewer URL, the CA, the demo user and password and a token that work together,
and stops what it started;
render-proxy's output for a production site passes `nginx -t` and `caddy validate`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, subprocess_env

pytestmark = pytest.mark.proxy


@pytest.mark.parametrize(("proxy", "profile", "stop"), [("nginx", "modern", signal.SIGINT),
                                                        ("caddy", "intermediate", signal.SIGTERM)])
def test_run_stack_prints_a_working_url_ca_user_and_token(tmp_path: Path, proxy: str, profile: str,
                                                          stop: signal.Signals) -> None:
    """Each printed item on its own line; the viewer loads without a token, its config points OHIF at
    the printed issuer, /dicom and /slicer need the token, and the demo user exists there."""
    if shutil.which(proxy, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
        pytest.skip(f"{proxy} not installed")
    process = subprocess.Popen([sys.executable, str(REPO / "deploy" / "run-stack"), "--proxy", proxy, "--dir",
                                str(tmp_path), "--tls-profile", profile], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=subprocess_env())
    assert process.stdout is not None
    output = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            output.append(line)
            if "stack ready" in line or (not line and process.poll() is not None):
                break
        text = "".join(output)
        assert "stack ready" in text, text
        viewer = re.search(r"^viewer: (https://localhost:\d+/browse)$", text, re.M).group(1)  # type: ignore[union-attr]
        ca = re.search(r"^CA file: (\S+)$", text, re.M).group(1)  # type: ignore[union-attr]
        assert re.search(r"^user: demo$", text, re.M), text
        password = re.search(r"^password: (\S{12,})$", text, re.M).group(1)  # type: ignore[union-attr]
        token = re.search(r"^TOKEN=(\S+)$", text, re.M).group(1)  # type: ignore[union-attr]
        url = viewer.removesuffix("/browse")
        context = ssl.create_default_context(cafile=ca)
        with httpx.Client(verify=context, timeout=30) as http:
            ok = http.get(f"{url}/slicer/system/version", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200
            assert http.get(f"{url}/slicer/system/version").status_code == 401
            assert http.get(f"{url}/dicom/studies").status_code == 401
            config = http.get(f"{viewer}/app-config.js")
            assert config.status_code == 200, config.text
            oidc = json.loads(re.search(r"^window\.config\.oidc = (.*);$", config.text, re.M).group(1))  # type: ignore[union-attr]
            issuer = oidc[0]["authority"]
            assert issuer.startswith("https://127.0.0.1:") and oidc[0]["client_id"] == "ohif"
            assert f"connect-src 'self' {issuer}; " in config.headers["content-security-policy"]
            discovery = http.get(f"{issuer}/.well-known/openid-configuration")
            assert discovery.status_code == 200 and discovery.json()["issuer"] == issuer
            console = re.search(r"^admin console: (\S+/admin/) \(user admin, password \S{12,}\)$", text, re.M)
            assert console is not None and console.group(1) == f"{url}/admin/", text
            console_config = http.get(f"{url}/admin/config.json").json()
            assert console_config["client_id"] == "ohif" and console_config["authority"] == issuer
        assert password not in (tmp_path / "issuer" / "users.json").read_text()  # hashed at rest
        port = int(url.rsplit(":", 1)[1])
        tls12 = ssl.create_default_context(cafile=ca)
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", port)) as raw:
            if profile == "modern":
                with pytest.raises(ssl.SSLError):
                    tls12.wrap_socket(raw, server_hostname="localhost")
            else:
                with tls12.wrap_socket(raw, server_hostname="localhost") as tls:
                    assert tls.version() == "TLSv1.2"
    finally:
        process.send_signal(stop)  # SIGINT: what Ctrl-C sends
        process.wait(30)
    assert process.returncode == 0
    assert "Traceback" not in process.stdout.read()
    with pytest.raises(OSError):  # everything it started is gone
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(issuer.rsplit(":", 1)[1])), timeout=2).close()
    assert not (tmp_path / "run" / "nginx.pid").exists() or proxy != "nginx"


@pytest.mark.parametrize("proxy", ["nginx", "caddy"])
def test_rendered_production_config_validates(tmp_path: Path, proxy: str) -> None:
    if shutil.which(proxy, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin") is None:
        pytest.skip(f"{proxy} not installed")
    env = subprocess_env()
    subprocess.run([sys.executable, str(REPO / "deploy" / "make-certs"), "--dir", str(tmp_path / "tls"),
                    "slicer.hospital.lan"], check=True, capture_output=True, env=env, timeout=60)
    out = tmp_path / "conf"
    subprocess.run([sys.executable, str(REPO / "deploy" / "render-proxy"), "--proxy", proxy, "--server-name",
                    "slicer.hospital.lan", "--cert", str(tmp_path / "tls" / "server-chain.pem"), "--key",
                    str(tmp_path / "tls" / "server-key.pem"), "--out", str(out), "--run-dir", str(tmp_path / "run")],
                   check=True, capture_output=True, env=env, timeout=60)
    if proxy == "nginx":
        command = ["nginx", "-t", "-p", str(tmp_path / "run"), "-c", str(out / "nginx.conf"),
                   "-e", str(tmp_path / "run" / "error.log")]
    else:
        command = ["caddy", "validate", "--config", str(out / "Caddyfile"), "--adapter", "caddyfile"]
        env = {**env, "XDG_DATA_HOME": str(tmp_path / "run"), "XDG_CONFIG_HOME": str(tmp_path / "run"),
               "HOME": str(tmp_path / "run")}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    text = "".join(p.read_text() for p in out.rglob("*") if p.is_file() and p.name != "mime.types")
    assert "{{" not in text
    assert "slicer.hospital.lan" in text and os.fspath(tmp_path / "tls" / "server-chain.pem") in text
