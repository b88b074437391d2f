"""deploy/make-certs: a local CA and a server certificate that clients can verify."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

from cryptography import x509

from tests.conftest import REPO, subprocess_env


def make_certs(directory: Path, *names: str) -> None:
    subprocess.run([sys.executable, str(REPO / "deploy" / "make-certs"), "--dir", str(directory), *names],
                   check=True, capture_output=True, text=True, env=subprocess_env(), timeout=60)


def test_certificate_chains_to_the_ca_and_names_the_server(tmp_path: Path) -> None:
    make_certs(tmp_path, "slicer.hospital.lan", "10.1.2.3")
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "ca.pem"), str(tmp_path / "server.pem")],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    cert = x509.load_pem_x509_certificate((tmp_path / "server.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["slicer.hospital.lan"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.1.2.3")]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime.days <= 91  # Mozilla's recommended 90 days
    for key in ("ca-key.pem", "server-key.pem"):
        assert (tmp_path / key).stat().st_mode & 0o077 == 0, f"{key} readable by others"


def test_a_second_run_keeps_the_ca_clients_already_trust(tmp_path: Path) -> None:
    make_certs(tmp_path, "slicer.hospital.lan")
    first_ca = (tmp_path / "ca.pem").read_bytes()
    first_server = (tmp_path / "server.pem").read_bytes()
    make_certs(tmp_path, "slicer.hospital.lan")
    assert (tmp_path / "ca.pem").read_bytes() == first_ca
    assert (tmp_path / "server.pem").read_bytes() != first_server
