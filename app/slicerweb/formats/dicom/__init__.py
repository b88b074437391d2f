"""DICOM parsing, attributes, JSON model and pixel access, shared by both engines and the handlers."""
