"""/slicer/mrml?url= contract: downloads load like files; a redirect out of `server.url_load_prefixes` is
refused, and a downloaded .nhdr cannot pull a server file in as its detached data."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import numpy as np
import pytest

from slicerweb.formats.nrrd import iter_nrrd

VOLUME = b"".join(iter_nrrd(np.arange(8, dtype=np.int16).reshape(2, 2, 2), np.eye(4)))
DETACHED = b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 2 2 2\nencoding: raw\ndata file: /etc/hostname\n\n"


@pytest.fixture
def web():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/ok/redirect"):
                self.send_response(302)
                self.send_header("Location", "/elsewhere/v.nrrd")
                self.end_headers()
                return
            body = DETACHED if self.path.endswith(".nhdr") else VOLUME
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


async def test_url_loads_and_redirect_policy(make_app, make_policy, web):
    app, engine = make_app(make_policy(server__url_load_prefixes=[f"{web}/ok/"]))
    http = app.test_client()
    loaded = await http.post(f"/slicer/mrml?url={web}/ok/v.nrrd&filetype=VolumeFile")
    assert (await loaded.get_json())["loadedNodeIDs"] == ["vtkMRMLScalarVolumeNode1"]
    assert (await engine.scene.volume()).name == "v"
    assert (await http.post(f"/slicer/mrml?url={web}/elsewhere/v.nrrd&filetype=VolumeFile")).status_code == 403
    bounced = await http.post(f"/slicer/mrml?url={web}/ok/redirect.nrrd&filetype=VolumeFile")
    assert bounced.status_code == 403 and "redirect" in (await bounced.get_json())["message"]
    assert [n.id for n in await engine.scene.volumes()] == ["vtkMRMLScalarVolumeNode1"]


async def test_downloaded_nhdr_cannot_read_server_files(make_app, web):
    app, engine = make_app()
    reply = await app.test_client().post(f"/slicer/mrml?url={web}/x.nhdr&filetype=VolumeFile")
    assert reply.status_code == 403
    assert await engine.scene.volumes() == []
    assert not any(engine.scene.downloads.iterdir())  # the refused download is not kept
