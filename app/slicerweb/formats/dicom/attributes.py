"""The attributes the index holds: which column, level and VR each QIDO key maps to.

One row per attribute QIDO-RS can match or return without opening a file: the default return
attributes of PS3.18 Tables 10.6.3-3/4/5, the usual matching keys, and the computed ones
(ModalitiesInStudy, the NumberOf...Related... counts). `level` is where the attribute lives:
patient attributes are returned at study level and below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Tier = Literal["patient", "study", "series", "instance"]
TIER_RANK = {"patient": 0, "study": 1, "series": 2, "instance": 3}
LEVEL_RANK = {"study": 1, "series": 2, "instance": 3}


@dataclass(frozen=True)
class Attribute:
    """An indexed attribute: `column` is `alias.name` in the joined query (p, s, r, i)."""

    tag: int
    keyword: str
    vr: str
    tier: Tier
    column: str
    matchable: bool = True
    numeric: bool = False
    multi: bool = False

    @property
    def hex(self) -> str:
        return f"{self.tag:08X}"


def _a(tag: int, keyword: str, vr: str, tier: Tier, column: str, **kw: Any) -> Attribute:
    return Attribute(tag, keyword, vr, tier, column, **kw)


ATTRIBUTES: tuple[Attribute, ...] = (
    _a(0x00100010, "PatientName", "PN", "patient", "p.patient_name"),
    _a(0x00100020, "PatientID", "LO", "patient", "p.patient_id"),
    _a(0x00100021, "IssuerOfPatientID", "LO", "patient", "p.issuer"),
    _a(0x00100030, "PatientBirthDate", "DA", "patient", "p.birth_date"),
    _a(0x00100040, "PatientSex", "CS", "patient", "p.sex"),
    _a(0x00080005, "SpecificCharacterSet", "CS", "study", "s.charset", matchable=False, multi=True),
    _a(0x00080020, "StudyDate", "DA", "study", "s.study_date"),
    _a(0x00080030, "StudyTime", "TM", "study", "s.study_time"),
    _a(0x00080050, "AccessionNumber", "SH", "study", "s.accession"),
    _a(0x00080061, "ModalitiesInStudy", "CS", "study", "s.modalities", multi=True),
    _a(0x00080090, "ReferringPhysicianName", "PN", "study", "s.referring_name"),
    _a(0x00080201, "TimezoneOffsetFromUTC", "SH", "study", "s.timezone"),
    _a(0x00081030, "StudyDescription", "LO", "study", "s.study_description"),
    _a(0x00080080, "InstitutionName", "LO", "study", "s.institution"),
    _a(0x0020000D, "StudyInstanceUID", "UI", "study", "s.study_uid"),
    _a(0x00200010, "StudyID", "SH", "study", "s.study_id"),
    _a(0x00201206, "NumberOfStudyRelatedSeries", "IS", "study", "s.num_series", numeric=True),
    _a(0x00201208, "NumberOfStudyRelatedInstances", "IS", "study", "s.num_instances", numeric=True),
    _a(0x00080060, "Modality", "CS", "series", "r.modality"),
    _a(0x00080021, "SeriesDate", "DA", "series", "r.series_date"),
    _a(0x00080031, "SeriesTime", "TM", "series", "r.series_time"),
    _a(0x0008103E, "SeriesDescription", "LO", "series", "r.series_description"),
    _a(0x00180015, "BodyPartExamined", "CS", "series", "r.body_part"),
    _a(0x00200060, "Laterality", "CS", "series", "r.laterality"),
    _a(0x0020000E, "SeriesInstanceUID", "UI", "series", "r.series_uid"),
    _a(0x00200011, "SeriesNumber", "IS", "series", "r.series_number", numeric=True),
    _a(0x00201209, "NumberOfSeriesRelatedInstances", "IS", "series", "r.num_instances", numeric=True),
    _a(0x00400244, "PerformedProcedureStepStartDate", "DA", "series", "r.pps_start_date"),
    _a(0x00400245, "PerformedProcedureStepStartTime", "TM", "series", "r.pps_start_time"),
    _a(0x00080016, "SOPClassUID", "UI", "instance", "i.sop_class"),
    _a(0x00080018, "SOPInstanceUID", "UI", "instance", "i.sop_uid"),
    _a(0x00080023, "ContentDate", "DA", "instance", "i.content_date"),
    _a(0x00080033, "ContentTime", "TM", "instance", "i.content_time"),
    _a(0x00200013, "InstanceNumber", "IS", "instance", "i.instance_number", numeric=True),
    _a(0x00280010, "Rows", "US", "instance", "i.n_rows", numeric=True),
    _a(0x00280011, "Columns", "US", "instance", "i.n_columns", numeric=True),
    _a(0x00280100, "BitsAllocated", "US", "instance", "i.bits_allocated", numeric=True),
    _a(0x00280008, "NumberOfFrames", "IS", "instance", "i.number_of_frames", numeric=True),
)
BY_TAG = {a.tag: a for a in ATTRIBUTES}
INSTANCE_AVAILABILITY = 0x00080056
RETRIEVE_URL = 0x00081190

# PS3.18 Tables 10.6.3-3/4/5: returned by default (RetrieveURL is added by the HTTP layer).
STUDY_DEFAULTS = (0x00080005, 0x00080020, 0x00080030, 0x00080050, 0x00080061, 0x00080090, 0x00080201,
                  0x00100010, 0x00100020, 0x00100030, 0x00100040, 0x0020000D, 0x00200010, 0x00201206,
                  0x00201208)
SERIES_DEFAULTS = (0x00080005, 0x00080060, 0x00080201, 0x0008103E, 0x0020000E, 0x00200011, 0x00201209,
                   0x00400244, 0x00400245)
INSTANCE_DEFAULTS = (0x00080005, 0x00080016, 0x00080018, 0x00080201, 0x00200013, 0x00280010, 0x00280011,
                     0x00280100, 0x00280008)
# Conditional attributes left out when unknown rather than sent empty.
OMIT_WHEN_EMPTY = frozenset({0x00080005, 0x00080201, 0x00280008, 0x00400244, 0x00400245})
