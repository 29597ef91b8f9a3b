"""MRC headers of AreTomo's tilt-series stack and reconstructed volume (headers only, never the data)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np

from py2rely_core.errors import InputError


@dataclass(frozen=True)
class Header:
    path: Path
    size: tuple[int, int, int]  # nx, ny, nz as in the MRC header (x fastest)
    pixel: tuple[float, float, float]  # Å, from the header's cell / grid (0 when unset)


def read_header(path: Path) -> Header:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a non-standard header is reported below, not warned
            with mrcfile.open(path, header_only=True, permissive=True) as mrc:
                header = mrc.header
                size = (int(header.nx), int(header.ny), int(header.nz))
                voxel = mrc.voxel_size
                pixel = (float(voxel.x), float(voxel.y), float(voxel.z))
    except (OSError, ValueError) as exc:
        raise InputError(str(path), f"not a readable MRC file ({exc})") from None
    if min(size) < 1:
        raise InputError(str(path), f"MRC header size {size}", "positive nx, ny, nz")
    return Header(path=path, size=size, pixel=pixel)


def tomogram_depth(volume: Header, pixel_size: float, image: tuple[int, int]) -> int:
    """Unbinned depth (pixels) of AreTomo's reconstruction: its thickness axis times its binning.

    AreTomo saves volumes as xzy (y slowest) by default and xyz with -FlipVol 1 (AreTomo3 CAtInput
    help for -FlipVol); the thickness axis is the one that is not the stack's y at the volume's
    binning (voxel size / tilt-series pixel size).
    """
    if volume.pixel[0] <= 0:
        raise InputError(str(volume.path), "MRC header has no voxel size", "the volume AreTomo wrote")
    binning = volume.pixel[0] / pixel_size
    _, ny, nz = volume.size
    y_at_bin = image[1] / binning
    matches_ny = abs(ny - y_at_bin) <= 1.0
    matches_nz = abs(nz - y_at_bin) <= 1.0
    if matches_ny == matches_nz:
        raise InputError(
            str(volume.path), f"cannot tell its thickness axis: size {volume.size} at binning "
            f"{binning:.3f} for a {image[0]} × {image[1]} tilt series", "-z/--dim-z",
        )
    thickness_axis = nz if matches_ny else ny
    return int(np.rint(thickness_axis * binning))
