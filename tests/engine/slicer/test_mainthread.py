"""Marshalling onto the application's main thread: every scene call runs there, results and errors
come back to the awaiting coroutine, and the server loop is never blocked.

The stand-in for Qt's event loop is a thread that waits on `wake_fd` with a selector and calls
`drain()`, exactly what the Slicer module wires to a `qt.QSocketNotifier`.
"""

from __future__ import annotations

import asyncio
import selectors
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from slicerweb.engine.slicer import MainThreadDispatcher, SlicerEngine


class StandInMainLoop:
    """A 'GUI' thread: waits for the wake-up fd, then drains the dispatcher's queue."""

    def __init__(self, dispatcher: MainThreadDispatcher) -> None:
        self.dispatcher = dispatcher
        self.stopping = False
        self.thread = threading.Thread(target=self._run, name="stand-in-main", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.dispatcher.wake_fd, selectors.EVENT_READ)
            while not self.stopping:
                if selector.select(timeout=0.05):
                    self.dispatcher.drain()

    def stop(self) -> None:
        self.stopping = True
        self.thread.join(5)


@pytest.fixture
def main_loop():
    dispatcher = MainThreadDispatcher()
    loop = StandInMainLoop(dispatcher)
    yield loop
    loop.stop()
    dispatcher.close()


async def test_calls_run_on_the_main_thread(main_loop):
    name = await main_loop.dispatcher.call(lambda: threading.current_thread().name)
    assert name == "stand-in-main"
    assert threading.current_thread().name != "stand-in-main"


async def test_exceptions_reach_the_caller(main_loop):
    def fail() -> None:
        raise KeyError("vtkMRMLScalarVolumeNode9")

    with pytest.raises(KeyError, match="vtkMRMLScalarVolumeNode9"):
        await main_loop.dispatcher.call(fail)


async def test_calls_are_serialized_in_order_and_the_server_loop_stays_free(main_loop):
    seen: list[int] = []

    def slow(i: int) -> int:
        time.sleep(0.01)
        seen.append(i)
        return i * i

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    tick_task = asyncio.create_task(ticker())
    results = await asyncio.gather(*(main_loop.dispatcher.call(slow, i) for i in range(20)))
    tick_task.cancel()
    assert results == [i * i for i in range(20)]
    assert seen == list(range(20))  # one main thread: calls never overlap
    assert ticks > 5  # the asyncio loop kept running while the main thread worked


async def test_cancelled_caller_does_not_break_the_dispatcher(main_loop):
    task = asyncio.create_task(main_loop.dispatcher.call(time.sleep, 0.05))
    await asyncio.sleep(0.01)
    task.cancel()
    assert await main_loop.dispatcher.call(lambda: 7) == 7


def fake_slicer(threads: list[str]) -> SimpleNamespace:
    """The thinnest `slicer` needed for the version mapping; records which thread read it."""

    class App:
        def __getattr__(self, name: str) -> object:
            threads.append(threading.current_thread().name)
            return {"majorVersion": 5, "minorVersion": 8, "mainApplicationMajorVersion": 5,
                    "mainApplicationMinorVersion": 8, "mainApplicationPatchVersion": 1,
                    "isCustomMainApplication": False}.get(name, f"<{name}>")

    return SimpleNamespace(app=App())


async def test_slicer_engine_reads_slicer_app_on_the_main_thread(main_loop, tmp_path):
    threads: list[str] = []
    engine = SlicerEngine(fake_slicer(threads), SimpleNamespace(), main_loop.dispatcher, tmp_path)
    version = await engine.system.version()
    assert version.applicationName == "<applicationName>" and version.majorVersion == 5
    assert version.engine == "slicer"
    # the original reported slicer.app.revision (SlicerRequestHandler.py ~810); qSlicerCoreApplication has
    # both revision and repositoryRevision (Base/QTCore/qSlicerCoreApplication.h ~92-93)
    assert version.revision == "<revision>"
    assert threads and set(threads) == {"stand-in-main"}


async def test_queue_depth_counts_calls_waiting_for_the_main_thread() -> None:
    """`/metrics` exports it (slicerweb_engine_queue_depth): calls queued while the main thread is busy."""
    dispatcher = MainThreadDispatcher()
    try:
        engine = SlicerEngine(SimpleNamespace(), SimpleNamespace(), dispatcher, data_dir=Path(tempfile.mkdtemp()))
        assert engine.queue_depth() == 0
        waiting = [asyncio.ensure_future(dispatcher.call(lambda: None)) for _ in range(3)]
        await asyncio.sleep(0)  # queued; no main loop runs them yet
        assert engine.queue_depth() == 3
        dispatcher.drain()
        await asyncio.gather(*waiting)
        assert engine.queue_depth() == 0
    finally:
        dispatcher.close()
