"""The bridge between Slicer's main thread and the server process: calls reach the named service and come
back with their value or their engine error; a frame carrying anything but engine types, numpy arrays
and plain builtins is refused without breaking the bridge; a burst of calls yields to the GUI."""

from __future__ import annotations

import os
import pickle
import socket
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from slicerweb.engine import downloads
from slicerweb.engine.bridge import COUNT, HEADER, FrameBuffer, encode
from slicerweb.engine.errors import NotFound, RemoteFailure
from slicerweb.engine.scene_api import NodeFilter
from slicerweb.engine.slicer.bridge import BridgeServer, InlineDispatcher


def raw_frame(pickled: bytes) -> bytes:
    """A frame around any pickle (no out-of-band buffers), as a crafting peer would send it."""
    return HEADER.pack(COUNT.size + len(pickled)) + COUNT.pack(0) + pickled


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected socket pair (the bridge's end, the other process's end), both closed afterwards."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        yield ours, theirs


class Scene:
    def __init__(self) -> None:
        self.main = InlineDispatcher()

    async def volume(self, pattern: str | None = None) -> np.ndarray:
        return await self.main.call(lambda: np.arange(6, dtype=np.int16).reshape(1, 2, 3))

    async def select(self, selection: NodeFilter) -> list[str]:
        if selection.id == "missing":
            raise NotFound("No nodes matched the filter criteria")
        return [selection.id or ""]

    async def slow(self) -> str:
        time.sleep(0.01)
        return "done"

    async def execute(self, source: str) -> object:
        return 1 / 0


def replies(sock: socket.socket, count: int) -> list[tuple]:
    buffer, out = FrameBuffer(), []
    sock.settimeout(5)
    while len(out) < count:
        out += buffer.feed(sock.recv(1 << 20))
    return out


def test_calls_come_back_with_values_and_engine_errors(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    server = BridgeServer(ours, {"scene": Scene()})
    theirs.sendall(encode(("call", 1, "scene", "volume", (), {})) + encode(("call", 2, "scene", "select",
                                                                            (NodeFilter(id="missing"),), {})))
    server.on_readable()
    first, second = replies(theirs, 2)
    assert first[:2] == ("result", 1) and np.array_equal(first[2], np.arange(6).reshape(1, 2, 3))
    assert second[:2] == ("error", 2) and isinstance(second[2], NotFound)


def test_a_crafted_pickle_is_refused_and_the_bridge_keeps_serving(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    server = BridgeServer(ours, {"scene": Scene()})
    crafted = pickle.dumps(("call", 1, "scene", "select", (os.system,), {}))  # would name os.system
    theirs.sendall(raw_frame(crafted) + encode(("call", 2, "scene", "select", (NodeFilter(id="a"),),
                                                                 {})))
    server.on_readable()
    refused, answered = replies(theirs, 2)
    assert refused[0] == "error" and "may not cross the SlicerWeb bridge" in str(refused[2])
    assert answered == ("result", 2, ["a"])
    theirs.sendall(encode(("call", 3, "scene", "_private", (), {})))
    server.on_readable()
    (private,) = replies(theirs, 1)
    assert private[:2] == ("error", 3)


def test_an_unexpected_failure_keeps_its_name(pair: tuple[socket.socket, socket.socket]) -> None:
    """As raised on Slicer's side, so /slicer/exec reports `ZeroDivisionError: division by zero` as in one process."""
    ours, theirs = pair
    server = BridgeServer(ours, {"scene": Scene()})
    theirs.sendall(encode(("call", 1, "scene", "execute", ("1/0",), {})))
    server.on_readable()
    (failed,) = replies(theirs, 1)
    assert failed[:2] == ("error", 1) and isinstance(failed[2], RemoteFailure)
    assert (failed[2].kind, str(failed[2])) == ("ZeroDivisionError", "division by zero")


def test_a_burst_of_calls_yields_to_the_gui_between_budgets(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    deferred: list[Callable[[], None]] = []
    server = BridgeServer(ours, {"scene": Scene()}, defer=deferred.append, budget=0.015)
    theirs.sendall(b"".join(encode(("call", i, "scene", "slow", (), {})) for i in range(10)))
    time.sleep(0.05)
    server.on_readable()
    assert len(deferred) == 1  # the rest of the burst waits for the next turn of Qt's loop
    done = len(replies(theirs, 1))
    while deferred:
        deferred.pop()()
    assert done + len(replies(theirs, 10 - done)) == 10


class Call:
    """Pickles as a call of `target(*args)`: what a crafted frame would do."""

    def __init__(self, target: object, *args: object) -> None:
        self.target, self.args = target, args

    def __reduce__(self) -> tuple:
        return self.target, self.args


def test_only_value_types_are_rebuilt_not_functions() -> None:
    buffer = FrameBuffer()
    for crafted in (Call(np.load, "/tmp/x.npy", None, True), Call(downloads.download, "http://x/", "/tmp", 1),
                    Call(os.system, "true")):
        payload = pickle.dumps(("call", 1, "scene", "select", (crafted,), {}))
        (frame,) = buffer.feed(raw_frame(payload))
        assert frame[0] == "invalid" and "may not cross" in str(frame[2])
    (ok,) = buffer.feed(encode(("result", 1, (NodeFilter(id="x"), np.float64(2.5), np.zeros((2, 2), np.int16)))))
    assert ok[2][0] == NodeFilter(id="x") and ok[2][1] == 2.5 and ok[2][2].dtype == np.int16


def test_an_array_crosses_out_of_band_and_frames_survive_any_split() -> None:
    """An array's memory is a buffer of its own in the frame (not inside the pickle) and comes back equal,
    writable and over the frame's buffer; frames cut at every byte boundary decode the same."""
    volume = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    frames = encode(("result", 1, volume)) + encode(("result", 2, {"k": [1, 2.5, "x"]}))
    assert COUNT.unpack_from(frames, HEADER.size) == (1,)  # one out-of-band buffer: the array's memory
    assert frames.count(volume.tobytes()) == 1
    (first, second) = FrameBuffer().feed(frames)
    assert np.array_equal(first[2], volume) and first[2].flags.writeable and second[2] == {"k": [1, 2.5, "x"]}
    for cut in range(1, len(frames)):
        buffer = FrameBuffer()
        got = buffer.feed(frames[:cut]) + buffer.feed(frames[cut:])
        assert [m[1] for m in got] == [1, 2] and np.array_equal(got[0][2], volume)


@pytest.mark.parametrize("table", [COUNT.pack(2**32 - 1), COUNT.pack(1) + (2**40).to_bytes(8, "big"), b"\0\0"])
def test_a_buffer_table_that_does_not_fit_its_frame_is_refused(table: bytes) -> None:
    pickled = pickle.dumps(("result", 1, None))
    (frame,) = FrameBuffer().feed(HEADER.pack(len(table + pickled)) + table + pickled)
    assert frame[0] == "invalid" and "bridge frame" in str(frame[2])


def test_the_server_going_away_is_reported_once(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    closed: list[bool] = []
    server = BridgeServer(ours, {"scene": Scene()}, on_closed=lambda: closed.append(True))
    theirs.close()
    server.on_readable()
    server.on_readable()  # a socket at EOF stays readable; the host disables its notifier on the first report
    assert closed == [True] and server.closed


def test_a_nested_event_loop_inside_a_call_does_not_start_the_next_call(
        pair: tuple[socket.socket, socket.socket]) -> None:
    """slicer.app.processEvents() inside a call (screenshots) lets Qt call the bridge again; the next call
    must wait for the current one, and answers keep their order."""
    ours, theirs = pair
    order: list[str] = []

    class Nested:
        async def first(self) -> str:
            order.append("first starts")
            server.on_readable()  # what processEvents does when the socket is readable
            order.append("first ends")
            return "one"

        async def second(self) -> str:
            order.append("second")
            return "two"

    server = BridgeServer(ours, {"scene": Nested()})
    theirs.sendall(encode(("call", 1, "scene", "first", (), {})) + encode(("call", 2, "scene", "second", (), {})))
    server.on_readable()
    assert order == ["first starts", "first ends", "second"]
    assert [reply[:3] for reply in replies(theirs, 2)] == [("result", 1, "one"), ("result", 2, "two")]
