"""Static pages: docroot containment (probes sent as raw bytes, since HTTP clients normalise `..`),
MIME types, directory index, and conditional GET."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from slicerweb.errors import BadRequest, NotFound
from slicerweb.static import resolve


@pytest.fixture
def docroot(tmp_path: Path) -> Path:
    root = tmp_path / "docroot"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "sub" / "index.html").write_text("<h1>sub</h1>")
    (root / "app.js").write_text("console.log(1)")
    (root / "style.css").write_text("body{}")
    (root / "data.json").write_text("{}")
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "viewer.wasm").write_bytes(b"\0asm")
    (root / ".secret").write_text("dotfile")
    private = tmp_path / "docroot_private"
    private.mkdir()
    (private / "secret.txt").write_text("TOP SECRET")
    (root / "escape").symlink_to(private)
    (root / "escape.txt").symlink_to(private / "secret.txt")
    (root / "inside.html").symlink_to(root / "index.html")
    return root


def raw_get(url: str, target: bytes) -> tuple[int, bytes]:
    """Send `GET <target>` exactly as given and return (status, body)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


TRAVERSALS = [
    b"/../../../../etc/passwd", b"/%2e%2e/%2e%2e/%2e%2e/etc/passwd", b"/..%2f..%2f..%2fetc%2fpasswd",
    b"/%2E%2E%2F%2E%2E%2Fetc/passwd", b"//etc/passwd", b"/sub/../../docroot_private/secret.txt",
    b"/..%5c..%5cetc%5cpasswd", b"/sub%5c..%5c..%5cdocroot_private%5csecret.txt", b"/index.html%00.png",
    b"/escape/secret.txt", b"/escape.txt", b"/.secret", b"/%2esecret", b"/../docroot_private/secret.txt",
    b"/%252e%252e/%252e%252e/etc/passwd",
]


def test_traversal_probes_are_refused_and_server_keeps_serving(live_server, docroot):
    server = live_server(args=["--docroot", str(docroot)])
    for target in TRAVERSALS:
        status, body = raw_get(server.url, target)
        assert status in (400, 404), target
        assert b"root:" not in body and b"TOP SECRET" not in body, target
        assert b'"success": false' in body.replace(b'"success":false', b'"success": false'), target
    assert raw_get(server.url, b"/")[1] == b"<h1>home</h1>"
    assert raw_get(server.url, b"/inside.html")[0] == 200  # a symlink that stays inside is fine


@pytest.mark.parametrize("subpath", ["../etc/passwd", "sub/../../x", "a\\..\\b", "x\0.png", ".secret",
                                     "escape/secret.txt", "escape.txt", "nope.html"])
def test_resolve_refuses(docroot, subpath):
    with pytest.raises((BadRequest, NotFound)):
        resolve(docroot, subpath)


def test_resolve_directory_index(docroot):
    assert resolve(docroot, "sub") == (docroot / "sub" / "index.html").resolve()
    assert resolve(docroot, "") == (docroot / "index.html").resolve()


@pytest.mark.parametrize(("path", "mime"), [
    ("/app.js", "application/javascript"), ("/style.css", "text/css"), ("/data.json", "application/json"),
    ("/image.png", "image/png"), ("/viewer.wasm", "application/wasm"), ("/", "text/html")])
async def test_mime_types(make_app, make_policy, docroot, path, mime):
    app, _ = make_app(make_policy(server__docroot=str(docroot)))
    response = await app.test_client().get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0] == mime
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_directory_without_slash_serves_its_index(make_app, make_policy, docroot):
    app, _ = make_app(make_policy(server__docroot=str(docroot)))
    response = await app.test_client().get("/sub/")
    assert await response.get_data() == b"<h1>sub</h1>"


async def test_conditional_get(make_app, make_policy, docroot):
    client = make_app(make_policy(server__docroot=str(docroot)))[0].test_client()
    first = await client.get("/app.js")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert (await client.get("/app.js", headers={"If-None-Match": etag})).status_code == 304
    assert (await client.get("/app.js", headers={"If-Modified-Since": modified})).status_code == 304
    (docroot / "app.js").write_text("console.log(2) // changed")
    changed = await client.get("/app.js", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and b"changed" in await changed.get_data()


async def test_head_has_length_and_no_body(make_app, make_policy, docroot):
    client = make_app(make_policy(server__docroot=str(docroot)))[0].test_client()
    response = await client.head("/index.html")
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(len("<h1>home</h1>"))


async def test_browse_serves_the_viewer_for_client_routes(make_app, make_policy, docroot):
    (docroot / "browse").mkdir()
    (docroot / "browse" / "index.html").write_text("<div id=root>OHIF</div>")
    (docroot / "browse" / "app.js").write_text("ohif()")
    client = make_app(make_policy(server__docroot=str(docroot)))[0].test_client()
    for path in ("/browse", "/browse/", "/browse/viewer?StudyInstanceUIDs=1.2.3", "/browse/viewer/1.2.3"):
        assert await (await client.get(path)).get_data() == b"<div id=root>OHIF</div>", path
    assert await (await client.get("/browse/app.js")).get_data() == b"ohif()"
