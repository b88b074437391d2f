"""A stand-in ctkDICOMDatabase over a folder of Part-10 files: the calls the Slicer engine makes, with
ctk's behaviour where the engine depends on it (cited at each method). Values are plain `str`: PythonQt
converts ctk's QString/QStringList results to str/list (PythonQt src/PythonQtConversion.cpp)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from pydicom import dcmread


class StandInDicomDatabase:
    """The ctkDICOMDatabase calls SlicerDicom makes, over a folder of Part-10 files."""

    def __init__(self, root: Path, main_thread: str) -> None:
        self.root, self.files, self.main_thread = root, {}, main_thread
        self.refuse, self.displayed_fields_updates = False, 0
        for path in sorted(root.rglob("*.dcm")):
            self._add(path)

    def _add(self, path: Path) -> None:
        ds = dcmread(path, stop_before_pixels=True)
        self.files[ds.SOPInstanceUID] = (str(path), ds)

    def _main(self) -> None:
        assert threading.current_thread().name == self.main_thread, "ctkDICOMDatabase used off the main thread"

    def patients(self):
        self._main()
        return sorted({str(ds.PatientID) for _, ds in self.files.values()})

    def studiesForPatient(self, patient):
        return sorted({str(ds.StudyInstanceUID) for _, ds in self.files.values() if ds.PatientID == patient})

    def seriesForStudy(self, study):
        return sorted({str(ds.SeriesInstanceUID) for _, ds in self.files.values() if ds.StudyInstanceUID == study})

    def instancesForSeries(self, series):
        return [str(uid) for uid, (_, ds) in sorted(self.files.items(), key=lambda kv: kv[1][1].InstanceNumber)
                if ds.SeriesInstanceUID == series]

    def studyForSeries(self, series):
        return str(next((ds.StudyInstanceUID for _, ds in self.files.values() if ds.SeriesInstanceUID == series), ""))

    def fileForInstance(self, sop):
        self._main()
        return self.files.get(sop, ("", None))[0]

    def seriesForFile(self, path):
        return str(next((ds.SeriesInstanceUID for p, ds in self.files.values() if p == path), ""))  # ctk: "" if unknown

    def instanceValue(self, sop, tag):
        self._main()
        element = self.files[sop][1].get(int(tag.replace(",", ""), 16))
        return "" if element is None else str(element.value)

    def fileValue(self, path, tag):
        """"" for group 0002: ctk reads values through ctkDICOMItem::InitializeFromFile, which keeps the data
        set and drops the file meta header (CTK Libs/DICOM/Core/ctkDICOMItem.cpp ~120-131,
        ctkDICOMDatabase.cpp ~217-260)."""
        self._main()
        element = dcmread(path, stop_before_pixels=True).get(int(tag.replace(",", ""), 16))
        return "" if element is None or tag.startswith("0002") else str(element.value)

    def insert(self, path, store_file, thumbnail):
        """Returns nothing, success or not (ctkDICOMDatabase.h); `refuse` stands for a file ctk could not index."""
        self._main()
        if self.refuse:
            return
        target = self.root / "inserted" / Path(path).name
        target.parent.mkdir(exist_ok=True)
        shutil.copy(path, target)
        self._add(target)

    def updateDisplayedFields(self):
        """Refreshes the fields Slicer's DICOM browser shows (ctkDICOMDatabase.h ~321)."""
        self._main()
        self.displayed_fields_updates += 1
