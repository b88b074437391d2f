"""Synthetic demo and benchmark content: deterministic DICOM studies (`dicom_studies`)."""

from __future__ import annotations

from .dicom_studies import demo_instances, generate_study, write_studies

__all__ = ["demo_instances", "generate_study", "write_studies"]
