"""The failure limiter throttles unverified attempts per client address, never a valid token (ASVS 2.2.1).

A VDI host or a NAT puts many clinicians behind one address: one infected workstation sending bad
tokens must not lock the others out. After `auth.failure_limit` failures from an address, requests
from it without a token or with a bad one get 429 (with Retry-After), in the app and in the proxies'
verifier (/auth/verify); a request with a valid token is served as usual.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import LiveServer, start_server
from tests.oidc import RunningIssuer, auth_policy
from tests.support import settled_audit

LIMIT = 20


@pytest.fixture
def server(issuer: RunningIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("app"), policy_toml=auth_policy(issuer).replace(
        "failure_limit = 1000", f"failure_limit = {LIMIT}"))
    yield live
    live.stop()


def test_bad_tokens_are_throttled_but_a_valid_token_is_never_refused(server: LiveServer,
                                                                     issuer: RunningIssuer) -> None:
    good = {"Authorization": f"Bearer {issuer.mint('slicer.read')}"}
    with server.client() as http:
        statuses = [http.get("/slicer/system/version", headers={"Authorization": f"Bearer bad{n}"}).status_code
                    for n in range(25)]
        assert statuses == [401] * LIMIT + [429] * 5
        served = http.get("/slicer/system/version", headers=good)
        assert served.status_code == 200 and served.json()["applicationName"] == "SlicerWeb"
        bad = http.get("/slicer/system/version", headers={"Authorization": "Bearer bad"})
        assert bad.status_code == 429 and int(bad.headers["retry-after"]) >= 1
        assert bad.json()["code"] == "too_many_requests"
        assert http.get("/slicer/system/version").status_code == 429  # no token: still an unverified attempt
        forged = issuer.mint("slicer.read", audience="https://elsewhere.example")  # signed, but not for us
        assert http.get("/slicer/system/version", headers={"Authorization": f"Bearer {forged}"}).status_code == 429
        assert http.get("/slicer/system/version", headers=good).status_code == 200


def test_the_proxies_verifier_lets_a_valid_token_through_a_throttled_address(server: LiveServer,
                                                                             issuer: RunningIssuer) -> None:
    def verify(token: str | None, edge: str = "") -> tuple[int, dict[str, str]]:
        headers = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/dicom/studies"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        with server.client() as http:
            response = http.get(f"/auth/verify{edge}", headers=headers)
        return response.status_code, dict(response.headers)

    assert [verify(f"bad{n}")[0] for n in range(25)] == [401] * LIMIT + [429] * 5
    status, headers = verify(issuer.mint("dicomweb.read"))
    assert status == 204 and headers["x-auth-subject"] == "alice"
    assert verify("bad")[0] == 429 and verify(None)[0] == 429
    status, headers = verify("bad", "?edge=nginx")
    assert status == 403 and headers["x-auth-status"] == "429" and "retry-after" in headers
    def throttled(events: list[dict[str, object]]) -> list[dict[str, object]]:
        return [e for e in events if e.get("status") == 429]

    events = settled_audit(server.data_dir / "audit.jsonl", until=lambda events: len(throttled(events)) >= 8)
    assert len(throttled(events)) >= 8  # every throttled attempt is audited
