"""Through real nginx and real Caddy (configs rendered from proxy/, certificates from make-certs):
the edge admits only valid bearer tokens with the right scope, speaks RFC 6750, gates exec behind
the admin toggle, redirects plain HTTP, refuses old TLS, foreign Hosts and oversized bodies.

One stack (issuer + app on a Unix socket + proxy) per proxy, shared by the module's tests.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import nrrd
import numpy as np
import pytest
import requests
from dicomweb_client.api import DICOMwebClient

from slicerweb.client import Client, SlicerWebError
from slicerweb.demo.dicom_studies import generate_study
from slicerweb.devstack.stack import Stack, start_stack
from tests.oidc import RunningIssuer, auth_policy, bad_tokens, check_exec_toggle
from tests.proxy.fronts import PROXIES, stack_client
from tests.support import settled_audit

pytestmark = pytest.mark.proxy
BAD = ["expired", "not_yet_valid", "wrong_issuer", "wrong_audience", "unknown_kid", "alg_none",
       "hs256_with_public_key", "tampered_payload", "id_token_typ", "garbage"]


def stack_policy(issuer: RunningIssuer) -> str:
    # App limits above the proxy's, so a 413 in these tests can only come from the proxy.
    return auth_policy(issuer, extra='trusted_proxies = ["127.0.0.1"]',
                       allowed_hosts='["localhost"]') + "\n[limits]\nmax_body_bytes = 8388608\n"


@pytest.fixture(scope="module", params=PROXIES)
def stack(request: pytest.FixtureRequest, issuer: RunningIssuer,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(request.param, tmp_path_factory.mktemp(request.param), stack_policy(issuer))
    yield running
    running.stop()


@pytest.fixture
def http(stack: Stack) -> Iterator[httpx.Client]:
    with stack_client(stack, http2=False) as client:
        yield client


def bearer(issuer: RunningIssuer, scope: str, subject: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.mint(scope, subject=subject)}"}


def test_no_token_is_401_with_rfc6750_challenge(http: httpx.Client) -> None:
    response = http.get("/slicer/system/version")
    assert response.status_code == 401
    assert response.headers.get_list("www-authenticate") == ['Bearer realm="slicerweb"']
    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("name", BAD)
def test_bad_token_is_refused_at_the_edge(http: httpx.Client, issuer: RunningIssuer, name: str) -> None:
    token = bad_tokens(issuer, "slicer.read")[name]()
    response = http.get("/slicer/system/version", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_token_in_query_string_is_refused(http: httpx.Client, issuer: RunningIssuer) -> None:
    response = http.get("/slicer/system/version", params={"access_token": issuer.mint("slicer.read")})
    assert response.status_code == 400
    assert 'error="invalid_request"' in response.headers["www-authenticate"]


def test_token_without_scope_is_403_insufficient_scope(http: httpx.Client, issuer: RunningIssuer) -> None:
    response = http.get("/slicer/system/version", headers=bearer(issuer, "dicomweb.read"))
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="slicer.read"' in challenge


def test_token_with_scope_is_200_with_security_headers(http: httpx.Client, issuer: RunningIssuer,
                                                       stack: Stack) -> None:
    response = http.get("/slicer/system/version", headers=bearer(issuer, "slicer.read"))
    assert response.status_code == 200
    assert response.json()["applicationName"] == "SlicerWeb"
    assert response.http_version in ("HTTP/1.1", "HTTP/2")
    headers = response.headers
    assert headers["strict-transport-security"] == "max-age=63072000"
    assert headers.get_list("x-content-type-options") == ["nosniff"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "no-referrer"
    assert not any(ch.isdigit() for ch in headers.get("server", "")), "server version leaked"
    # The app's access log carries the proxy's request id and the verified subject.
    request_id = headers["x-request-id"]
    deadline = time.monotonic() + 10  # the app logs once its last body chunk is handed over
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in stack.log("app.log").splitlines() if line.startswith("{")]
        if any(line.get("request_id") == request_id and line.get("subject") == "alice" for line in lines):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"no app access-log line with request id {request_id} and subject alice")


def test_proxy_access_log_has_request_id_and_no_query(http: httpx.Client, issuer: RunningIssuer,
                                                      stack: Stack) -> None:
    response = http.get("/dicom/studies", params={"PatientName": "DOE^JANE"}, headers=bearer(issuer, "dicomweb.read"))
    request_id = response.headers["x-request-id"]
    log_name = "nginx-access.log" if stack.proxy == "nginx" else "caddy-access.log"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and request_id not in stack.log(log_name):
        time.sleep(0.1)
    text = stack.log(log_name)
    line = next(json.loads(x) for x in text.splitlines() if request_id in x)
    assert "DOE" not in text and issuer.mint("x")[:20] not in text
    if stack.proxy == "nginx":
        assert line["subject"] == "alice"


def test_http2_is_offered(stack: Stack, issuer: RunningIssuer) -> None:
    context = ssl.create_default_context(cafile=str(stack.certs.ca_cert))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", stack.https_port)) as raw, \
            context.wrap_socket(raw, server_hostname=stack.server_name) as tls:
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() == "TLSv1.3"


def test_exec_toggle_through_the_proxy(http: httpx.Client, issuer: RunningIssuer, stack: Stack) -> None:
    check_exec_toggle(http, issuer, stack.audit_path)


def test_plain_http_is_redirected_to_https(stack: Stack) -> None:
    response = httpx.get(f"{stack.http_url}/browse/index.html?x=1")
    assert response.status_code == 308
    assert response.headers["location"] == f"{stack.url}/browse/index.html?x=1"


def test_plain_http_api_calls_are_refused_not_redirected(stack: Stack) -> None:
    response = httpx.get(f"{stack.http_url}/slicer/system/version", headers={"Authorization": "Bearer leaked"})
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.json()["code"] == "https_required"


def test_plain_http_foreign_host_is_refused(stack: Stack) -> None:
    assert httpx.get(f"{stack.http_url}/", headers={"Host": "evil.example"}).status_code == 421


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_old_tls_is_refused(stack: Stack, version: ssl.TLSVersion) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(stack.certs.ca_cert))
    context.set_ciphers("ALL:@SECLEVEL=0")  # let this client offer the old protocol at all
    with warnings.catch_warnings():  # the old protocols are deprecated in Python: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    with socket.create_connection(("127.0.0.1", stack.https_port)) as raw, pytest.raises(ssl.SSLError) as refused:
        context.wrap_socket(raw, server_hostname=stack.server_name)
    assert "protocol version" in str(refused.value).lower() or "handshake failure" in str(refused.value).lower()


def test_tls12_is_accepted(stack: Stack) -> None:
    context = ssl.create_default_context(cafile=str(stack.certs.ca_cert))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", stack.https_port)) as raw, \
            context.wrap_socket(raw, server_hostname=stack.server_name) as tls:
        assert tls.version() == "TLSv1.2"
        assert "GCM" in tls.cipher()[0] or "CHACHA20" in tls.cipher()[0]


def test_foreign_host_is_refused(http: httpx.Client, issuer: RunningIssuer) -> None:
    response = http.get("/slicer/system/version", headers={**bearer(issuer, "slicer.read"), "Host": "evil.example"})
    assert response.status_code == 421


def test_unknown_sni_gets_no_certificate(stack: Stack) -> None:
    context = ssl.create_default_context(cafile=str(stack.certs.ca_cert))
    context.check_hostname = False
    with socket.create_connection(("127.0.0.1", stack.https_port)) as raw:
        if stack.proxy == "caddy":
            pytest.skip("Caddy serves the site's certificate for any SNI; the Host check refuses the request")
        with pytest.raises(ssl.SSLError):
            context.wrap_socket(raw, server_hostname="evil.example")


def test_oversized_body_is_413_at_the_proxy(http: httpx.Client, issuer: RunningIssuer) -> None:
    # The app would accept 8 MiB here (stack_policy): only the edge's 16 KiB admin limit applies.
    body = json.dumps({"enabled": False, "pad": "x" * 100_000})
    response = http.put("/admin/features/exec", content=body, headers={
        **bearer(issuer, "slicerweb.admin"), "Content-Type": "application/json"})
    assert response.status_code == 413
    big = http.post("/slicer/system/version", content=b"x" * (2 << 20), headers=bearer(issuer, "slicer.write"))
    assert big.status_code == 413


def test_upload_routes_take_large_bodies(http: httpx.Client, issuer: RunningIssuer) -> None:
    body = b"\0" * (3 << 20)  # over the 1 MB default, well under the upload limit
    response = http.post("/dicom/studies", content=body, headers={
        **bearer(issuer, "dicomweb.write"), "Content-Type": "multipart/related; type=\"application/dicom\""})
    # Not a valid STOW body: the app itself must answer (400), not the edge (413, or 500 from a
    # failed auth subrequest).
    assert response.status_code == 400, (response.headers, response.text)
    assert "x-request-id" in response.headers


def test_verifier_is_not_reachable_from_outside(http: httpx.Client, issuer: RunningIssuer) -> None:
    response = http.get("/auth/verify", headers={**bearer(issuer, "slicer.read"),
                                                  "X-Forwarded-Uri": "/slicer/exec"})
    assert response.status_code in (401, 404)


def test_dicomweb_client_searches_through_the_proxy(stack: Stack, issuer: RunningIssuer) -> None:
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override the CA below
    session.verify = str(stack.certs.ca_cert)  # the local CA from deploy/make-certs
    client = DICOMwebClient(url=f"{stack.url}/dicom", session=session, headers=bearer(issuer, "dicomweb.read"))
    assert isinstance(client.search_for_studies(), list)


def test_dicomweb_client_without_token_is_refused(stack: Stack) -> None:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(stack.certs.ca_cert)
    client = DICOMwebClient(url=f"{stack.url}/dicom", session=session)
    with pytest.raises(requests.HTTPError) as refused:
        client.search_for_studies()
    assert refused.value.response.status_code == 401


def test_slicer_api_call_with_requests_and_ca_bundle(stack: Stack, issuer: RunningIssuer) -> None:
    response = requests.get(f"{stack.url}/slicer/system/version", headers=bearer(issuer, "slicer.read"),
                            verify=str(stack.certs.ca_cert), timeout=30)
    assert response.status_code == 200 and "applicationName" in response.json()


def test_audit_has_denials_with_the_real_client_address(stack: Stack) -> None:
    denied = [e for e in settled_audit(stack.audit_path) if e["event"] == "access.denied"]
    assert denied
    assert all(e["client"] == "127.0.0.1" for e in denied)


def test_proxy_config_dir_is_rendered(stack: Stack) -> None:
    conf = Path(stack.directory / stack.proxy)
    assert list(conf.rglob("*")), "rendered config missing"
    assert "{{" not in "".join(p.read_text() for p in conf.rglob("*") if p.is_file() and p.name != "mime.types")


def test_dicomweb_client_stores_searches_and_retrieves_through_the_proxy(stack: Stack,
                                                                         issuer: RunningIssuer) -> None:
    study = generate_study(7, modality="CT", series_count=1, instances_per_series=3, rows=32, columns=32)
    session = requests.Session()
    session.trust_env = False
    session.verify = str(stack.certs.ca_cert)
    client = DICOMwebClient(url=f"{stack.url}/dicom", session=session,
                            headers=bearer(issuer, "dicomweb.read dicomweb.write"))
    client.set_http_retry_params(retry=False)
    client.store_instances(study)
    uid = str(study[0].StudyInstanceUID)
    found = client.search_for_studies(search_filters={"StudyInstanceUID": uid})
    assert [record["0020000D"]["Value"][0] for record in found] == [uid]
    retrieved = client.retrieve_study(uid)
    assert sorted(ds.SOPInstanceUID for ds in retrieved) == sorted(ds.SOPInstanceUID for ds in study)


def test_slicerweb_client_through_the_proxy(stack: Stack, issuer: RunningIssuer, tmp_path: Path) -> None:
    ca = str(stack.certs.ca_cert)
    slicer = Client(stack.url, token=issuer.mint("slicer.read slicer.write"), ca_file=ca)
    assert slicer.is_server_running()
    volume = (np.arange(64 * 64 * 160) % 3000).astype(np.int16).reshape(64, 64, 160)  # 1.3 MB raw
    path = tmp_path / "big.nrrd"
    nrrd.write(str(path), volume, {"encoding": "raw"})
    assert path.stat().st_size > (1 << 20)  # over the default limit: only the upload route takes it
    slicer.volume_upload(path.read_bytes(), id="ProxyVolume")
    assert "ProxyVolume" in slicer.node_ids() or "ProxyVolume" in slicer.node_names()
    with pytest.raises(SlicerWebError) as refused:
        Client(stack.url, ca_file=ca).node_ids()
    assert refused.value.status == 401
