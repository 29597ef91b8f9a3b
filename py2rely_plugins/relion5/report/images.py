"""Maps as pictures: central slices and projections along x, y and z in one greyscale PNG.

Drawn with numpy and Pillow rather than matplotlib: a map picture is an array, and this takes
milliseconds where a figure takes a tenth of a second (the report is redrawn after every job).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

PANEL_PIXELS = 144  # small boxes (24 px at bin 4) are enlarged to about this, nearest-neighbour
GAP = 4
AXES = ("x", "y", "z")


def read_volume(path: Path) -> tuple[np.ndarray, float]:
    import mrcfile

    with mrcfile.open(path, permissive=True) as mrc:
        return np.asarray(mrc.data, dtype=np.float32), float(mrc.voxel_size.x)


def views(volume: np.ndarray) -> list[np.ndarray]:
    """[slice ⊥x, slice ⊥y, slice ⊥z, projection along x, y, z]; arrays are (z, y, x) as MRC
    stores them, and each picture is shown with its second axis up."""
    nz, ny, nx = volume.shape
    slices = [volume[:, :, nx // 2], volume[:, ny // 2, :], volume[nz // 2, :, :]]
    projections = [volume.sum(axis=2), volume.sum(axis=1), volume.sum(axis=0)]
    return [np.flipud(v) for v in slices + projections]


def _grey(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, (0.5, 99.5))
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return np.full(image.shape, 128, dtype=np.uint8)
    scaled = (np.clip(image, low, high) - low) / (high - low) * 255.0
    return scaled.astype(np.uint8)


def montage(volume: np.ndarray) -> np.ndarray:
    """Two rows (slices, projections) of three panels (x, y, z), white gaps between them."""
    panels = [_grey(v) for v in views(volume)]
    factor = max(1, round(PANEL_PIXELS / max(volume.shape)))
    panels = [np.kron(p, np.ones((factor, factor), dtype=np.uint8)) for p in panels]
    height = max(p.shape[0] for p in panels)
    width = max(p.shape[1] for p in panels)
    out = np.full((2 * height + GAP, 3 * width + 2 * GAP), 255, dtype=np.uint8)
    for index, panel in enumerate(panels):
        row, column = divmod(index, 3)
        top, left = row * (height + GAP), column * (width + GAP)
        out[top:top + panel.shape[0], left:left + panel.shape[1]] = panel
    return out


def write_map_picture(map_path: Path, output: Path) -> tuple[int, float]:
    """Writes the montage of ``map_path`` to ``output`` (PNG); returns (box, pixel size)."""
    from PIL import Image

    volume, pixel = read_volume(map_path)
    Image.fromarray(montage(volume)).save(output, format="PNG")
    return volume.shape[-1], pixel
