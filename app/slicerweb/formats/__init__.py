"""File formats and codecs shared by the HTTP handlers and both engines.

Nothing here imports an engine implementation (`engine/headless/`, `engine/slicer/`) or HTTP code: only
the engine's neutral value types and errors (`engine/dicom_api.py`, `engine/errors.py`). `nrrd` and
`voxels` hold the NRRD codec and the bounded voxel decoder; `dicom/` the DICOM attribute table, Part-10
parsing, the DICOM JSON model, QIDO records, transfer syntaxes and pixel access.
"""
