"""Tomogram size and pixel size assumed when no tomograms STAR gives them (the reference tool's
defaults, used only without --tilt-series)."""

DEFAULT_SIZE = (4096, 4096, 1200)  # x, y, z in unbinned tilt-series pixels
DEFAULT_PIXEL_SIZE = 1.54  # Å
