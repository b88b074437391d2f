"""One engine contract, two engines: the headless engine and the Slicer engine on its stand-in.

The handlers see only the Engine Protocol (engine/protocol.py, scene_api.py, dicom_api.py), so
whatever it documents must hold for both: system identity, runtime feature overrides, the scene
(put/get volume, selection, removal) and the DICOM database (store, search, retrieve). A call that
cannot be served fails with the error class the Protocol documents (NotFound, Invalid, Unsupported),
the same one on both engines, because errors.py maps that class to the HTTP status the client sees.

The Slicer engine runs against the thin stand-ins of the Slicer engine tests: `slicer.util`/MRML
(tests/engine/slicer/test_scene.py), ctkDICOMDatabase (tests/slicer_standin/dicomdb.py) and the
version fields of `slicer.app` (tests/slicer_standin/__main__.py), every call on a stand-in Qt main
thread.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from pydicom import Dataset

from slicerweb.demo.dicom_studies import generate_study
from slicerweb.engine.dicom_api import SearchQuery, StowPart
from slicerweb.engine.errors import Invalid, NotFound, Unsupported
from slicerweb.engine.headless import HeadlessEngine
from slicerweb.engine.protocol import Engine, FeatureOverride, VersionInfo
from slicerweb.engine.scene_api import NodeFilter, VolumeUpload
from slicerweb.engine.slicer import MainThreadDispatcher, SlicerEngine
from tests.engine.slicer.test_mainthread import StandInMainLoop
from tests.engine.slicer.test_scene import World, fake_slicer, fake_vtk
from tests.slicer_standin.__main__ import VERSION
from tests.slicer_standin.dicomdb import StandInDicomDatabase

IJK_TO_RAS = np.array([[-0.5, 0, 0, 10.0], [0, -0.5, 0, 20.0], [0, 0, 1.25, -30.0], [0, 0, 0, 1]])


@pytest.fixture
def main_thread() -> Iterator[MainThreadDispatcher]:
    dispatcher = MainThreadDispatcher()
    loop = StandInMainLoop(dispatcher)
    yield dispatcher
    loop.stop()
    dispatcher.close()


def slicer_engine(data: Path, dispatcher: MainThreadDispatcher) -> SlicerEngine:
    """The Slicer engine over the stand-in scene, DICOM database and application object."""
    # The stand-in of tests/engine/slicer/test_scene.py is untyped test scaffolding.
    world = World()  # type: ignore[no-untyped-call]
    slicer = fake_slicer(world)  # type: ignore[no-untyped-call]
    for name, value in VERSION.items():
        setattr(slicer.app, name, value)
    (data / "ctk").mkdir(parents=True)
    slicer.dicomDatabase = StandInDicomDatabase(data / "ctk", "stand-in-main")
    vtk = fake_vtk(world)  # type: ignore[no-untyped-call]
    return SlicerEngine(slicer, SimpleNamespace(), dispatcher, data, vtk=vtk)  # type: ignore[arg-type]  # duck-typed stand-ins


@pytest.fixture(params=["headless", "slicer"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path,
                 main_thread: MainThreadDispatcher) -> AsyncIterator[Engine]:
    built: Engine = HeadlessEngine(tmp_path / "data") if request.param == "headless" \
        else slicer_engine(tmp_path / "data", main_thread)
    assert isinstance(built, Engine)  # the runtime-checkable Protocol
    await built.start()
    try:
        yield built
    finally:
        await built.close()


def part10(ds: Dataset) -> StowPart:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return StowPart("application/dicom", buffer)


# --- system ---------------------------------------------------------------------------------------


async def test_version_names_the_application_and_the_engine(engine: Engine) -> None:
    version = await engine.system.version()
    assert isinstance(version, VersionInfo)
    assert version.engine == engine.name and engine.name in ("headless", "slicer")
    assert version.applicationName and version.applicationVersion  # slicerio's liveness probe needs the name
    for field in fields(VersionInfo):
        expected = {"int": int, "bool": bool}.get(str(field.type), str)
        assert isinstance(getattr(version, field.name), expected), field.name
    readiness = await engine.readiness()
    assert readiness.ready and readiness.problems == {} and readiness.checks


# --- features -------------------------------------------------------------------------------------


async def test_feature_overrides_round_trip_and_expire(engine: Engine) -> None:
    store = engine.features
    now = time.time()
    assert await store.overrides(now) == {}
    first = FeatureOverride("exec", True, now + 60, "local:alice", now)
    assert await store.set_override(first) is None
    assert await store.overrides(now) == {"exec": first}
    second = FeatureOverride("exec", False, None, "bob", now + 1)
    assert await store.set_override(second) == first  # the one it replaced
    assert await store.overrides(now) == {"exec": second}
    await store.set_override(FeatureOverride("dicomweb", False, now - 1, "bob", now - 2))
    assert set(await store.overrides(now)) == {"exec"}  # expired overrides are left out
    assert await store.clear_override("exec") == second
    assert await store.clear_override("exec") is None
    assert await store.overrides(now) == {}


# --- scene ----------------------------------------------------------------------------------------


async def test_put_volume_creates_then_replaces_and_get_returns_it(engine: Engine) -> None:
    scene = engine.scene
    voxels = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)
    created = await scene.put_volume("Contract", VolumeUpload(voxels, IJK_TO_RAS))
    assert created.name == "Contract" and created.id
    got = await scene.volume("Contract")
    assert got.id == created.id and got.name == "Contract"
    assert got.array.dtype == np.int16 and np.array_equal(got.array, voxels)  # [k, j, i], no cast
    assert np.allclose(got.ijk_to_ras, IJK_TO_RAS)
    assert created.id in [node.id for node in await scene.volumes()]

    replacement = np.ones((1, 2, 2), dtype=np.float32)
    replaced = await scene.put_volume("Contract", VolumeUpload(replacement, np.eye(4)))
    assert replaced.id == created.id  # same node, new voxels and geometry
    again = await scene.volume(created.id)
    assert again.array.dtype == np.float32 and np.array_equal(again.array, replacement)
    assert np.allclose(again.ijk_to_ras, np.eye(4))


async def test_select_and_remove_nodes(engine: Engine) -> None:
    scene = engine.scene
    first = await scene.put_volume("First", VolumeUpload(np.zeros((1, 1, 2), np.uint8), np.eye(4)))
    second = await scene.put_volume("Second", VolumeUpload(np.zeros((1, 1, 2), np.uint8), np.eye(4)))
    assert [n.id for n in await scene.select(NodeFilter(name="Second"))] == [second.id]
    assert [n.name for n in await scene.select(NodeFilter(id=first.id))] == ["First"]
    assert await scene.select(NodeFilter(id="vtkMRMLScalarVolumeNode999")) == []  # unknown id: empty
    properties = await scene.properties(NodeFilter(name="First"))
    assert list(properties) == [first.id] and properties[first.id]["Name"] == "First"

    assert await scene.remove(NodeFilter(name="First")) == [first.id]
    assert [n.id for n in await scene.volumes()] == [second.id]
    with pytest.raises(NotFound):
        await scene.volume("First")


async def test_scene_refusals_are_the_documented_errors(engine: Engine) -> None:
    scene = engine.scene
    with pytest.raises(NotFound):
        await scene.volume("nothing-called-this")
    with pytest.raises(NotFound):
        await scene.properties(NodeFilter(name="nothing-called-this"))
    with pytest.raises(NotFound):
        await scene.grid_transform("nothing-called-this")
    with pytest.raises(NotFound):
        await scene.set_control_point("nothing-called-this", 0, (0.0, 0.0, 0.0))
    with pytest.raises(Invalid, match="contents must be 'viewers' or 'full'"):
        await scene.set_gui("everything", None)
    with pytest.raises(Invalid, match="Unknown layout name: Kaleidoscope"):
        await scene.set_gui(None, "Kaleidoscope")
    await scene.put_volume("Only", VolumeUpload(np.zeros((1, 1, 1), np.uint8), np.eye(4)))
    with pytest.raises(Invalid, match="cmd must be 'next' or 'previous'"):
        await scene.select_volume("sideways")


async def test_the_gui_state_is_what_was_set(engine: Engine) -> None:
    state = await engine.scene.set_gui("viewers", "oneup3d")
    assert (state.contents, state.layout) == ("viewers", "OneUp3D")


# --- dicom ----------------------------------------------------------------------------------------


@pytest.fixture
def study() -> list[Dataset]:
    return generate_study(5, series_count=1, instances_per_series=2)


async def test_store_then_search_and_retrieve(engine: Engine, study: list[Dataset]) -> None:
    dicom = engine.dicom
    study_uid, series_uid = study[0].StudyInstanceUID, study[0].SeriesInstanceUID
    report = await dicom.store_instances([part10(ds) for ds in study])
    assert [o.sop_instance_uid for o in report.stored] == [ds.SOPInstanceUID for ds in study]
    assert not report.failed
    again = await dicom.store_instances([part10(study[0])])
    assert again.outcomes[0].already_stored and not again.failed

    assert await dicom.count_studies() == 1
    studies = await dicom.search_for_studies(SearchQuery("study"))
    assert studies.total == 1
    (record,) = studies.records
    assert record["0020000D"]["Value"] == [study_uid]
    assert record["00201206"]["Value"] == [1] and record["00201208"]["Value"] == [2]
    series = await dicom.search_for_series(SearchQuery("series", study_uid=study_uid))
    assert [r["0020000E"]["Value"] for r in series.records] == [[series_uid]]
    instances = await dicom.search_for_instances(SearchQuery("instance", study_uid=study_uid,
                                                             series_uid=series_uid))
    assert sorted(r["00080018"]["Value"][0] for r in instances.records) == sorted(ds.SOPInstanceUID for ds in study)

    retrieved = await dicom.retrieve_series(study_uid, series_uid)
    assert [i.sop_uid for i in retrieved] == [ds.SOPInstanceUID for ds in study]  # instance-number order
    one = await dicom.retrieve_instance(study_uid, series_uid, study[1].SOPInstanceUID)
    assert one.transfer_syntax == study[1].file_meta.TransferSyntaxUID
    (frame,) = await dicom.retrieve_instance_frames(study_uid, series_uid, study[1].SOPInstanceUID, [1], None)
    assert frame.data == study[1].PixelData
    metadata = json.loads(await dicom.retrieve_series_metadata(study_uid, series_uid))
    assert sorted(m["00080018"]["Value"][0] for m in metadata) == sorted(ds.SOPInstanceUID for ds in study)
    assert all("BulkDataURI" in m["7FE00010"] and "InlineBinary" not in m["7FE00010"] for m in metadata)


async def test_dicom_refusals_are_the_documented_errors(engine: Engine, study: list[Dataset]) -> None:
    dicom = engine.dicom
    study_uid, series_uid, sop_uid = study[0].StudyInstanceUID, study[0].SeriesInstanceUID, study[0].SOPInstanceUID
    with pytest.raises(NotFound):
        await dicom.retrieve_instance(study_uid, series_uid, sop_uid)
    await dicom.store_instances([part10(ds) for ds in study])
    with pytest.raises(NotFound):
        await dicom.retrieve_instance(study_uid, series_uid, "1.2.3.4.5.6.7.8.9")
    with pytest.raises(NotFound):
        await dicom.retrieve_series(study_uid, "1.2.3.4.5.6.7.8.9")
    with pytest.raises(NotFound):
        await dicom.retrieve_instance_frames(study_uid, series_uid, sop_uid, [3], None)  # one frame only
    with pytest.raises(Unsupported):
        await dicom.retrieve_instance_frames(study_uid, series_uid, sop_uid, [1], "1.2.840.10008.1.2.4.100")
    assert await dicom.count_studies() == 1  # refusals changed nothing
