"""Helpers of the SlicerWeb scripted module (a package, so Slicer does not take them for modules)."""
