"""Synthetic cryo-ET tilt-series datasets with known particles (demo and tests)."""
