"""Test fixtures: the files AreTomo2/AreTomo3 would have written for a simulated dataset.

Given a dataset from ``py2rely simulate`` (its ``ground_truth/`` geometry and CTF, and its tilt
stacks), ``write_aretomo_files`` writes for every tilt series, into one directory:

    <name>.mrc                 the tilt stack (a copy), sections in ascending tilt as AreTomo3 saves it
    <name>.aln                 header + global block (+ a "# Local Alignment" block on request)
    <name>_CTF.txt             CTFFIND-style fits: 8 columns (AreTomo3) or 7 (AreTomo2)
    <name>_TLT.txt             tilt, acquisition index, dose per section (AreTomo3 only)
    <name>_Imod/<name>_order_list.csv   "ImageNumber, TiltAngle" in acquisition order (-OutImod 1)
    <name>_Vol.mrc             an empty volume with AreTomo's default xzy layout and binning

Formats as AreTomo writes them (see py2rely_plugins/aretomo/*.py for the source of each). RELION's
geometry becomes AreTomo's by inverting RELION's own AreTomo reader
(src/align_tiltseries_runner.cpp, ``readAreTomoResults``): ROT = rlnTomoZRot, TILT = rlnTomoYTilt,
TX/TY = rlnTomoX/YShiftAngst / pixel size. AreTomo has no per-image x-tilt, so a dataset simulated
with ``--x-tilt`` is refused.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import mrcfile
import numpy as np
import pandas as pd
import starfile

FLAVOURS = ("aretomo3", "aretomo2")


@dataclass(frozen=True)
class AreTomoLayout:
    flavour: Literal["aretomo3", "aretomo2"] = "aretomo3"
    dark_sections: tuple[int, ...] = ()  # 1-based stack sections AreTomo rejected as dark
    local_patches: int = 0  # > 0: append a "# Local Alignment" block with this many patches
    alpha_offset: float = 0.0  # AreTomo's tilt-offset correction: nominal tilt = TILT − offset
    volume_binning: int = 4
    order_list: bool = True  # also write <name>_Imod/<name>_order_list.csv


def write_aretomo_files(dataset: Path, directory: Path, layout: AreTomoLayout = AreTomoLayout()) -> list[str]:
    """Write AreTomo-format files for every tilt series of ``dataset`` into ``directory``; returns
    the tilt-series names."""
    if layout.flavour not in FLAVOURS:
        raise ValueError(f"flavour {layout.flavour!r}; expected one of {FLAVOURS}")
    truth = dataset / "ground_truth"
    parameters = json.loads((truth / "simulation.json").read_text())["parameters"]
    tomograms = starfile.read(truth / "tomograms.star", always_dict=True)["global"]
    directory.mkdir(parents=True, exist_ok=True)
    names = []
    for _, tomogram in tomograms.iterrows():
        name = str(tomogram["rlnTomoName"])
        tilts = starfile.read(tomogram["rlnTomoTiltSeriesStarFile"], always_dict=True)[name]
        _write_series(directory, name, tomogram, tilts, float(parameters["dose_per_tilt"]), layout)
        names.append(name)
    return names


def _write_series(directory: Path, name: str, tomogram: pd.Series, tilts: pd.DataFrame,
                  dose_per_tilt: float, layout: AreTomoLayout) -> None:
    if np.any(np.abs(tilts["rlnTomoXTilt"].to_numpy(float)) > 1e-9):
        raise ValueError(f"{name}: AreTomo alignments have no x-tilt; simulate with --x-tilt 0")
    pixel = float(tomogram["rlnTomoTiltSeriesPixelSize"])
    stack = Path(str(tilts["rlnMicrographName"].iloc[0]).split("@", 1)[1])
    shutil.copyfile(stack, directory / f"{name}.mrc")
    with mrcfile.open(stack, header_only=True, permissive=True) as mrc:
        raw_size = (int(mrc.header.nx), int(mrc.header.ny), int(mrc.header.nz))
    sections = np.array([int(str(m).split("@", 1)[0]) for m in tilts["rlnMicrographName"]])
    if not np.array_equal(sections, np.arange(1, raw_size[2] + 1)):
        raise ValueError(f"{name}: expected one row per stack section in stack order")
    # Acquisition order from the simulated pre-exposure (rank in the dose-symmetric scheme).
    acquisition = np.argsort(np.argsort(tilts["rlnMicrographPreExposure"].to_numpy(float), kind="stable")) + 1
    geometry = pd.DataFrame({
        "section": sections,
        "rot": tilts["rlnTomoZRot"].to_numpy(float),
        "tilt": tilts["rlnTomoYTilt"].to_numpy(float),
        "tx": tilts["rlnTomoXShiftAngst"].to_numpy(float) / pixel,
        "ty": tilts["rlnTomoYShiftAngst"].to_numpy(float) / pixel,
        "acquisition": acquisition,
    })
    dark = geometry["section"].isin(layout.dark_sections).to_numpy()
    aretomo3 = layout.flavour == "aretomo3"
    _write_aln(directory / f"{name}.aln", geometry, dark, raw_size, layout, aretomo3)
    ctf_rows = tilts if aretomo3 else tilts[~dark]
    _write_ctf(directory / f"{name}_CTF.txt", ctf_rows, int(tomogram["rlnTomoHand"]) if aretomo3 else None)
    if aretomo3:
        lines = [f"{t - layout.alpha_offset:8.2f}  {a:4d}  {dose_per_tilt:8.2f}"
                 for t, a in zip(geometry["tilt"], geometry["acquisition"], strict=True)]
        (directory / f"{name}_TLT.txt").write_text("\n".join(lines) + "\n")
    if layout.order_list or not aretomo3:
        imod = directory / f"{name}_Imod"
        imod.mkdir(exist_ok=True)
        ordered = geometry.sort_values("acquisition")
        lines = ["ImageNumber, TiltAngle" if aretomo3 else "ImageNumber,TiltAngle"]
        lines += [f"{a:4d},{t:.2f}" for a, t in zip(ordered["acquisition"], ordered["tilt"], strict=True)]
        (imod / f"{name}_order_list.csv").write_text("\n".join(lines) + "\n")
    size = (int(tomogram["rlnTomoSizeX"]), int(tomogram["rlnTomoSizeY"]), int(tomogram["rlnTomoSizeZ"]))
    _write_volume(directory / f"{name}_Vol.mrc", size, pixel, layout.volume_binning)


def _write_aln(path: Path, geometry: pd.DataFrame, dark: np.ndarray, raw_size: tuple[int, int, int],
               layout: AreTomoLayout, aretomo3: bool) -> None:
    # AreTomo2 and AreTomo3 < 2.0.7 number sections from 0, AreTomo3 ≥ 2.0.7 from 1.
    offset = 0 if aretomo3 else 1
    lines = ["# AreTomo Alignment / Priims bprmMn" + ("" if aretomo3 else " "),
             f"# RawSize = {raw_size[0]} {raw_size[1]} {raw_size[2]}",
             f"# NumPatches = {layout.local_patches}"]
    for frame, row in enumerate(geometry.itertuples()):
        if dark[frame]:
            lines.append(f"# DarkFrame =  {frame:4d} {row.section - offset:4d} {row.tilt:8.2f}")
    if aretomo3:
        lines += [f"# AlphaOffset = {layout.alpha_offset:8.2f}", "# BetaOffset =     0.00",
                  f"# Thickness = {raw_size[0] // 4}"]
    lines.append("# SEC     ROT         GMAG       TX          TY      SMEAN     SFIT    SCALE     BASE"
                 "     TILT")
    aligned = geometry[~dark]
    for row in aligned.itertuples():
        lines.append(f"{row.section - offset:5d}  {row.rot:9.4f}  {1.0:9.5f}  {row.tx:9.3f}  {row.ty:9.3f}  "
                     f"{1.0:7.2f}  {1.0:7.2f}  {1.0:7.2f}  {0.0:7.2f}  {row.tilt:8.2f}")
    if layout.local_patches > 0:
        lines.append("# Local Alignment")
        for t in range(len(aligned)):
            for p in range(layout.local_patches):
                lines.append(f"{t:4d} {p:3d} {100.0 * p:8.2f}  {50.0:8.2f}  {0.5:8.2f}  {-0.5:8.2f}"
                             f"  {1.0:4.1f}")
    path.write_text("\n".join(lines) + "\n")


def _write_ctf(path: Path, tilts: pd.DataFrame, hand: int | None) -> None:
    header = ("# Columns: #1 micrograph number; #2 - defocus 1 [A]; #3 - defocus 2; "
              "#4 - azimuth of astigmatism; #5 - additional phase shift [radian]; "
              "#6 - cross correlation; #7 - spacing (in Angstroms) up to which CTF rings were "
              "fit successfully" + ("; #8 - dfHand" if hand is not None else ""))
    lines = [header]
    for number, row in enumerate(tilts.itertuples(), start=1):
        u, v, angle = float(row.rlnDefocusU), float(row.rlnDefocusV), float(row.rlnDefocusAngle)
        if v > u:  # AreTomo's defocus 1 is the larger one, along the azimuth (CTFFIND's convention)
            u, v, angle = v, u, angle + 90.0
        line = f"{number:4d}   {u:8.2f}  {v:8.2f}  {angle:8.2f}  {0.0:9.4f}  {0.1:8.4f}  {10.0:8.4f}"
        lines.append(line + (f"  {hand:3d}" if hand is not None else ""))
    path.write_text("\n".join(lines) + "\n")


def _write_volume(path: Path, size: tuple[int, int, int], pixel: float, binning: int) -> None:
    x, y, z = (round(s / binning) for s in size)
    with mrcfile.new(path, overwrite=True) as mrc:
        # AreTomo's default volume layout is xzy: x fastest, then z, y slowest (-FlipVol 0).
        mrc.set_data(np.zeros((y, z, x), dtype=np.int8))
        mrc.voxel_size = pixel * binning
