"""slicerweb.client contract: slicerio's calls over HTTPS verified against a CA bundle, with a bearer
token on every request, and the server's error message raised to the caller."""

from __future__ import annotations

import datetime
import ipaddress
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from slicerweb.client import Client, SlicerWebError
from slicerweb.formats.nrrd import write_nrrd


def certificate_files(directory):
    """A private CA and a server certificate for 127.0.0.1 / localhost signed by it (PEM files)."""
    now = datetime.datetime.now(datetime.UTC)

    def build(subject, issuer, key, signer, *, ca):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SlicerWeb test CA")])
    ca = build(ca_name, ca_name, ca_key, ca_key, ca=True)
    server = build(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), ca_name, server_key, ca_key,
                   ca=False)
    paths = {name: directory / f"{name}.pem" for name in ("ca", "cert", "key")}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    return paths


def test_client_over_https_with_a_ca_bundle(live_server, tmp_path):
    pem = certificate_files(tmp_path)
    server = live_server(args=["--certfile", str(pem["cert"]), "--keyfile", str(pem["key"])])
    assert server.url.startswith("https://")
    client = Client(server.url, ca_file=str(pem["ca"]), token="not-checked-on-loopback")
    assert client.is_server_running()
    volume = tmp_path / "MRHead.nrrd"
    write_nrrd(volume, np.arange(8, dtype=np.int16).reshape(2, 2, 2), np.eye(4))
    assert client.file_load(str(volume)) == ["vtkMRMLScalarVolumeNode1"]
    assert client.node_names(class_name="vtkMRMLVolumeNode") == ["MRHead"]
    assert client.node_ids(name="MRHead") == ["vtkMRMLScalarVolumeNode1"]
    assert client.node_properties(name="MRHead")[0]["ImageData"]["Dimensions"] == [2, 2, 2]
    client.file_save(str(tmp_path / "out.nrrd"), name="MRHead", properties={"useCompression": False})
    assert (tmp_path / "out.nrrd").read_bytes() == client.volume_download("MRHead")
    client.node_reload(name="MRHead")
    with pytest.raises(SlicerWebError, match="No nodes matched") as failure:
        client.node_properties(name="nothing")
    assert failure.value.status == 404
    client.node_remove()
    assert client.node_ids() == []

    untrusting = Client(server.url)  # the system store does not know the private CA
    assert not untrusting.is_server_running()
    with pytest.raises(SlicerWebError) as refused:
        untrusting.node_ids()
    assert refused.value.status == 0 and "CERTIFICATE_VERIFY_FAILED" in refused.value.message


def test_client_sends_the_bearer_token_on_every_call():
    seen: list[tuple[str, str, str | None]] = []

    class Recorder(BaseHTTPRequestHandler):
        def answer(self) -> None:
            seen.append((self.command, self.path, self.headers.get("Authorization")))
            body = json.dumps({"applicationName": "x"} if "version" in self.path else ["a"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = answer

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        client = Client(f"http://127.0.0.1:{httpd.server_address[1]}", token="t0ken")
        assert client.is_server_running()
        client.node_names(name="My Head")
        client.node_remove(id="vtkMRMLScalarVolumeNode1")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert [auth for _, _, auth in seen] == ["Bearer t0ken"] * 3
    assert seen[1][1] == "/slicer/mrml/names?name=My%20Head"
    assert seen[2][0] == "DELETE"
