"""RELION 5 STAR utilities: combine tilt-series and particle sets, filter unused tilt series."""
