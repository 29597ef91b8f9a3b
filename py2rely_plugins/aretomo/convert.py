"""One AreTomo tilt series → the rows RELION 5 needs (per-tilt table and tomograms-STAR row).

The alignment mapping is RELION 5's own, from its AreTomo2 reader
(src/align_tiltseries_runner.cpp, ``AlignTiltseriesRunner::readAreTomoResults``; the Python
``align_tilt_series/aretomo/utils.py`` does the same)::

    rlnTomoXTilt = 0      rlnTomoYTilt = TILT      rlnTomoZRot = ROT
    rlnTomoXShiftAngst = TX × pixel size          rlnTomoYShiftAngst = TY × pixel size

with no sign change. AreTomo's own IMOD export agrees: it writes ``.xf`` lines
``A = R(−ROT)``, ``d = A·(−TX, −TY)`` (ImodUtil/CSaveXF.cpp), and RELION's IMOD reader turns such
a line into ``shift = −A⁻¹·d × pixel = (TX, TY) × pixel`` and ``ZRot = ROT``
(``readIMODResults``); tests/test_aretomo_parsers.py checks that the two paths agree. RELION then
projects a tomogram point with ``S(image centre)·S(shift)·Rz(ZRot)·Ry(YTilt)·Rx(XTilt)·S(−centre)``
(src/jaz/tomography/tomogram.cpp, ``setProjectionMatrix``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from py2rely_core.errors import InputError
from py2rely_core.star import PIXEL_SIZE_TOLERANCE
from py2rely_plugins.aretomo import hand as handedness
from py2rely_plugins.aretomo.acquisition import Acquisition, read_acquisition
from py2rely_plugins.aretomo.aln import Alignment, read_aln
from py2rely_plugins.aretomo.ctf import CtfFits, read_ctf
from py2rely_plugins.aretomo.defaults import TOTAL_DOSE
from py2rely_plugins.aretomo.discover import Source
from py2rely_plugins.aretomo.stack import Header, read_header, tomogram_depth

GMAG_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Settings:
    """The command's options that shape every tilt series."""

    pixel_size: float | None
    total_dose: float | None
    dose_per_tilt: float | None
    hand: str  # "auto", "1" or "-1"
    dim_x: int | None
    dim_y: int | None
    dim_z: int | None
    voltage: float
    spherical_aberration: float
    amplitude_contrast: float
    optics_group_name: str


@dataclass
class Converted:
    source: Source
    tilts: pd.DataFrame  # data_<rlnTomoName>
    row: dict[str, object]  # data_global row (rlnTomoTiltSeriesStarFile filled in by the writer)
    hand_reason: str
    check_hand: bool  # the hand is a convention or ambiguous: the user is told to check it
    notes: list[str]  # things the user should know (local alignment ignored, ...)
    warnings: list[str] = field(default_factory=list)  # assumptions the user should check


def convert(source: Source, settings: Settings, stack_link: str) -> Converted:
    """``stack_link`` is the path RELION will read the images from (the .mrcs link in the output)."""
    alignment = read_aln(source.aln)
    if not source.stack.is_file():
        raise InputError(str(source.stack), "file not found", f"the stack {source.aln.name} aligns")
    stack = read_header(source.stack)
    pixel = _pixel_size(stack, settings.pixel_size)
    sections = stack.size[2]
    _check_counts(alignment, stack)
    fits = read_ctf(source.ctf)
    ctf_rows = _ctf_rows(fits, alignment, sections)
    acquisition = read_acquisition(source.directory, source.name, alignment, sections)
    dose_per_tilt, dose_note, dose_warning = _dose_per_tilt(settings, sections, acquisition)
    pre_exposure = acquisition.pre_exposure(alignment.section, dose_per_tilt)
    hand, reason, check_hand = handedness.choose(settings.hand, fits, ctf_rows)

    defocus_u, defocus_v = fits.defocus_1[ctf_rows], fits.defocus_2[ctf_rows]
    for label, values in (("defocus 1", defocus_u), ("defocus 2", defocus_v)):
        if np.any(values <= 0):
            row = int(ctf_rows[np.flatnonzero(values <= 0)[0]])
            raise InputError(str(source.ctf), f"row {row + 1}, {label}: {values[values <= 0][0]:g} Å",
                             "a positive defocus (underfocus) for every aligned image")
    tilts = pd.DataFrame({
        "rlnMicrographName": [f"{s:06d}@{stack_link}" for s in alignment.section],
        "rlnTomoNominalStageTiltAngle": acquisition.nominal_tilt[alignment.section - 1],
        "rlnTomoNominalTiltAxisAngle": alignment.rot,
        "rlnMicrographPreExposure": pre_exposure,
        "rlnDefocusU": defocus_u,
        "rlnDefocusV": defocus_v,
        "rlnDefocusAngle": fits.azimuth[ctf_rows],
        # AreTomo writes radians ("#5 - additional phase shift [radian]"); rlnPhaseShift is in
        # degrees (metadata_label.h). RELION's readAreTomoResults copies the number unconverted.
        "rlnPhaseShift": np.degrees(fits.phase_shift[ctf_rows]),
        "rlnCtfScalefactor": 1.0,
        "rlnCtfFigureOfMerit": fits.cross_correlation[ctf_rows],
        "rlnCtfMaxResolution": fits.fit_resolution[ctf_rows],
        **relion_alignment(alignment, pixel),
    })
    size = _tomogram_size(source, settings, stack, pixel)
    row: dict[str, object] = {
        "rlnTomoName": source.tomogram,
        "rlnVoltage": settings.voltage,
        "rlnSphericalAberration": settings.spherical_aberration,
        "rlnAmplitudeContrast": settings.amplitude_contrast,
        "rlnMicrographOriginalPixelSize": pixel,
        "rlnTomoHand": hand,
        "rlnOpticsGroupName": settings.optics_group_name,
        "rlnTomoTiltSeriesPixelSize": pixel,
        "rlnTomoTiltSeriesStarFile": "",
        "rlnTomoSizeX": size[0],
        "rlnTomoSizeY": size[1],
        "rlnTomoSizeZ": size[2],
    }
    converted = Converted(source=source, tilts=tilts, row=row, hand_reason=reason, check_hand=check_hand,
                          notes=_notes(alignment, acquisition.source))
    (converted.warnings if dose_warning else converted.notes).append(dose_note)
    return converted


def relion_alignment(alignment: Alignment, pixel: float) -> dict[str, np.ndarray]:
    """RELION's tilt-series alignment columns from AreTomo's global block (module docstring)."""
    return {
        "rlnTomoXTilt": np.zeros(len(alignment)),
        "rlnTomoYTilt": alignment.tilt,
        "rlnTomoZRot": alignment.rot,
        "rlnTomoXShiftAngst": alignment.tx * pixel,
        "rlnTomoYShiftAngst": alignment.ty * pixel,
    }


def _pixel_size(stack: Header, option: float | None) -> float:
    x, y, _ = stack.pixel
    tolerance = max(PIXEL_SIZE_TOLERANCE, 1e-4 * (option or x))  # float32 header cell / grid
    if x > 0 and abs(x - y) > tolerance:
        raise InputError(str(stack.path), f"pixel size x {x:g} Å differs from y {y:g} Å",
                         "square pixels")
    if option is None:
        if x <= 0:
            raise InputError(str(stack.path), "MRC header has no pixel size",
                             "a pixel size in the header, or -ps/--pixel-size")
        return round(x, 6)
    if x > 0 and abs(x - option) > tolerance:
        raise InputError(str(stack.path), f"header pixel size {x:g} Å differs from -ps/--pixel-size "
                         f"{option:g} Å", f"{x:g} Å, or the stack the option is meant for")
    return option


def _check_counts(alignment: Alignment, stack: Header) -> None:
    nx, ny, nz = stack.size
    if alignment.raw_size is not None and alignment.raw_size != (nx, ny, nz):
        raise InputError(str(alignment.path), f"RawSize {alignment.raw_size} differs from the stack "
                         f"{stack.path.name} ({nx}, {ny}, {nz})", "the .aln of this stack")
    dark = alignment.dark_sections
    every = np.concatenate([alignment.section, dark])
    outside = every[(every < 1) | (every > nz)]
    if outside.size:
        raise InputError(str(alignment.path), f"section {int(outside[0])} is outside the stack "
                         f"{stack.path.name} ({nz} images)", f"sections 1..{nz}")
    # AreTomo writes every input image either in the global block or as a DarkFrame line.
    if len(every) != nz:
        raise InputError(str(alignment.path), f"{len(alignment)} aligned + {len(dark)} dark images, but "
                         f"the stack {stack.path.name} has {nz}", "one entry per stack image")
    if np.any(np.abs(alignment.gmag - 1.0) > GMAG_TOLERANCE):
        raise InputError(str(alignment.path), "GMAG differs from 1",
                         "1 (RELION 5's tilt-series model has no per-image magnification)")


def _ctf_rows(fits: CtfFits, alignment: Alignment, sections: int) -> np.ndarray:
    """Row of the CTF table for each aligned image (see ctf.py for which rows AreTomo writes)."""
    if len(fits) == len(alignment):
        return np.arange(len(alignment))  # row i ↔ .aln row i, as readAreTomoResults reads them
    if len(fits) == sections:
        tilts = np.concatenate([alignment.tilt, [d.tilt for d in alignment.dark_frames]])
        rank = np.argsort(np.argsort(tilts, kind="stable"), kind="stable")
        return rank[: len(alignment)]
    raise InputError(str(fits.path), f"{len(fits)} rows",
                     f"{len(alignment)} (one per aligned image) or {sections} (one per stack image)")


def _dose_per_tilt(
    settings: Settings, sections: int, acquisition: Acquisition,
) -> tuple[float | None, str, bool]:
    """(dose per tilt, or None for the per-image doses of _TLT.txt; where it came from; whether
    the user should check it).

    As in py2rely 0.7.1, ``-td`` is the fallback for tilt series without per-image doses, 60 e/Å²
    unless given; ``-dpt`` applies to every tilt series.
    """
    if settings.dose_per_tilt is not None:
        return settings.dose_per_tilt, f"dose {settings.dose_per_tilt:g} e/Å² per tilt (-dpt)", False
    if acquisition.dose is not None:
        if settings.total_dose is not None:
            return None, (f"-td/--total-dose not used: {acquisition.source.name} has per-image doses "
                          "(-td is for tilt series without them; -dpt replaces them)"), True
        return None, f"per-image doses from {acquisition.source.name}", False
    total = settings.total_dose if settings.total_dose is not None else TOTAL_DOSE
    source = "-td/--total-dose" if settings.total_dose is not None else "py2rely 0.7.1's default -td"
    # Every image of the stack was exposed, dark ones included.
    return total / sections, (f"no per-image doses in {acquisition.source.name}: {total:g} e/Å² "
                              f"({source}) spread over the {sections} images of the stack"), \
        settings.total_dose is None


def _tomogram_size(source: Source, settings: Settings, stack: Header, pixel: float) -> tuple[int, int, int]:
    x = settings.dim_x or stack.size[0]
    y = settings.dim_y or stack.size[1]
    if settings.dim_z is not None:
        return x, y, settings.dim_z
    if not source.volume.is_file():
        raise InputError(str(source.volume), "file not found (the tomogram depth comes from it)",
                         "AreTomo's volume, or -z/--dim-z")
    return x, y, tomogram_depth(read_header(source.volume), pixel, (stack.size[0], stack.size[1]))


def _notes(alignment: Alignment, acquisition_source: Path) -> list[str]:
    notes = [f"acquisition order from {acquisition_source.name}"]
    if alignment.num_patches > 0:
        notes.append(f"local alignment ({alignment.num_patches} patches) not used: RELION 5 reads "
                     "only the global block")
    if abs(alignment.beta_offset) > 0.005:
        notes.append(f"BetaOffset {alignment.beta_offset:g}° not carried over (RELION's AreTomo "
                     "reader sets rlnTomoXTilt 0)")
    if alignment.dark_frames:
        notes.append(f"{len(alignment.dark_frames)} dark image(s) left out")
    return notes
