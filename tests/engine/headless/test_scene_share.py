"""Worker 0's scene shared with sibling workers over a real Unix socket (engine/headless/scene_share.py).

Contract: a sibling's scene calls reach worker 0's HeadlessScene and come back with the same values and the
same engine errors as in one process; an unexpected failure keeps its exception's name; only SceneService
methods may be called; the socket is mode 0600; while worker 0 is away a call answers Unavailable (503 with
Retry-After), and the next call after it is back reconnects; a frame the allow-list refuses closes that
connection only.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from slicerweb.engine.bridge import BridgeClient
from slicerweb.engine.errors import NotFound, RemoteFailure, Unavailable, Unsupported
from slicerweb.engine.headless.scene import HeadlessScene
from slicerweb.engine.headless.scene_share import SceneHost, SharedScene
from slicerweb.engine.scene_api import NodeFilter, VolumeUpload
from tests.engine.slicer.test_bridge import raw_frame


@pytest.fixture
async def shared(tmp_path: Path) -> AsyncIterator[tuple[HeadlessScene, SceneHost, SharedScene]]:
    """Worker 0's scene and host, and a sibling's SharedScene, in one event loop over a real socket."""
    scene = HeadlessScene(tmp_path)
    host = SceneHost(scene, tmp_path / "scene.sock")
    await host.start()
    sibling = SharedScene(tmp_path / "scene.sock")
    yield scene, host, sibling
    await sibling.close()
    await host.close()
    scene.close()


def upload() -> VolumeUpload:
    return VolumeUpload(np.arange(24, dtype=np.int16).reshape(2, 3, 4), np.diag([1.0, 2.0, 3.0, 1.0]))


async def test_a_volume_put_by_a_sibling_is_worker_0s_and_reads_back_the_same(shared) -> None:
    scene, _, sibling = shared
    node = await sibling.put_volume("probe", upload())
    assert [n.name for n in await scene.volumes()] == ["probe"]  # it lives in worker 0's scene
    mine, theirs = await scene.volume("probe"), await sibling.volume("probe")
    assert theirs.id == mine.id == node.id
    assert np.array_equal(theirs.array, mine.array) and theirs.array.dtype == np.int16
    assert np.array_equal(theirs.ijk_to_ras, mine.ijk_to_ras)
    assert await sibling.select(NodeFilter(name="probe")) == await scene.select(NodeFilter(name="probe"))


async def test_engine_errors_cross_as_themselves_and_other_failures_keep_their_name(shared) -> None:
    _, _, sibling = shared
    with pytest.raises(NotFound, match="probe"):
        await sibling.volume("probe")
    with pytest.raises(RemoteFailure) as failed:
        await sibling.execute("1/0")
    assert (failed.value.kind, str(failed.value)) == ("ZeroDivisionError", "division by zero")
    with pytest.raises(RemoteFailure) as not_json:  # the same TypeError the exec handler meets in one process
        await sibling.execute("__execResult = {1, 2}")
    assert not_json.value.kind == "TypeError" and "not JSON serializable" in str(not_json.value)
    assert await sibling.execute("__execResult = {'n': len(slicer.util.getNodes())}") == {"n": 0}


async def test_only_scene_service_methods_may_be_called(shared, tmp_path: Path) -> None:
    _, _, sibling = shared
    with pytest.raises(AttributeError):
        sibling.close_everything  # noqa: B018  # not a SceneService method: not even sent
    client = BridgeClient(await _connect(tmp_path / "scene.sock"), lambda message: None)
    await client.open()
    try:
        with pytest.raises(Unsupported, match=r"scene\._run"):
            await client.call("scene", "_run", "volumes")
        with pytest.raises(Unsupported, match=r"dicom\.store_instances"):
            await client.call("dicom", "store_instances")
    finally:
        await client.close()


async def test_the_socket_is_private(shared, tmp_path: Path) -> None:
    assert stat.S_IMODE((tmp_path / "scene.sock").stat().st_mode) == 0o600


async def test_a_refused_frame_closes_that_connection_only(shared, tmp_path: Path) -> None:
    _, _, sibling = shared
    await sibling.put_volume("probe", upload())
    rogue = await _connect(tmp_path / "scene.sock")
    payload = pickle.dumps(("call", 1, "scene", "volumes", (print,), {}))  # builtins.print: not on the allow-list
    loop = asyncio.get_running_loop()
    await loop.sock_sendall(rogue, raw_frame(payload))
    assert await asyncio.wait_for(loop.sock_recv(rogue, 100), 10) == b""  # closed, nothing answered
    rogue.close()
    assert [n.name for n in await sibling.volumes()] == ["probe"]  # the sibling's connection still serves


async def test_while_worker_0_is_away_calls_answer_unavailable_then_reconnect(tmp_path: Path) -> None:
    path = tmp_path / "scene.sock"
    sibling = SharedScene(path)
    with pytest.raises(Unavailable) as away:
        await sibling.volumes()
    assert away.value.retry_after == 1 and "worker 0" in str(away.value)
    scene = HeadlessScene(tmp_path)
    host = SceneHost(scene, path)
    await host.start()
    try:
        await sibling.put_volume("probe", upload())
        await host.close()  # worker 0 stops: its connections go
        await asyncio.sleep(0.1)
        with pytest.raises(Unavailable):
            await sibling.volumes()
        restarted = SceneHost(HeadlessScene(tmp_path), path)  # a new worker 0: an empty scene, as after a restart
        await restarted.start()
        try:
            assert await sibling.volumes() == []
        finally:
            await restarted.close()
            restarted.scene.close()
    finally:
        await sibling.close()
        scene.close()


async def test_calls_are_answered_concurrently(shared, tmp_path: Path) -> None:
    """A long exec does not hold up a sibling's reads (as in one process): the exec waits for a file the test
    writes only after the read has come back."""
    _, _, sibling = shared
    go = tmp_path / "go"
    slow = asyncio.create_task(sibling.execute(
        f"import os, time\nwhile not os.path.exists({str(go)!r}): time.sleep(0.01)\n__execResult = 'done'"))
    assert await sibling.volumes() == []
    assert not slow.done()
    go.touch()
    assert await slow == "done"


async def _connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, str(path))
    return sock
