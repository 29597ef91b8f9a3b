"""AreTomo file readers and the AreTomo → RELION conventions, without the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from py2rely_core.errors import InputError
from py2rely_plugins.aretomo import hand
from py2rely_plugins.aretomo.acquisition import read_acquisition
from py2rely_plugins.aretomo.aln import read_aln
from py2rely_plugins.aretomo.convert import relion_alignment
from py2rely_plugins.aretomo.ctf import read_ctf
from py2rely_plugins.aretomo.stack import read_header, tomogram_depth
from tests.cli_helpers import run_py2rely

# AreTomo2 layout (CSaveAlnFile.cpp): 0-based sections, a dark image, no offset lines.
ARETOMO2_ALN = """\
# AreTomo Alignment / Priims bprmMn
# RawSize = 1024 1000 5
# NumPatches = 2
# DarkFrame =     0    3   -40.00
# SEC     ROT         GMAG       TX          TY      SMEAN     SFIT    SCALE     BASE     TILT
    4   -95.0000    1.00000     12.500     -3.250     1.00     1.00     1.00     0.00    -20.00
    1   -95.1000    1.00000      0.000      0.000     1.00     1.00     1.00     0.00      0.00
    0   -95.2000    1.00000     -7.125      4.000     1.00     1.00     1.00     0.00     20.00
    2   -95.3000    1.00000      1.000      2.000     1.00     1.00     1.00     0.00     40.00
# Local Alignment
   0   0   100.00     50.00      0.50     -0.50   1.0
   0   1   200.00     50.00      0.50     -0.50   1.0
   1   0   100.00     50.00      this is not read
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_aretomo2_aln_sections_become_one_based_and_the_local_block_is_not_read(tmp_path):
    aln = read_aln(write(tmp_path / "TS.aln", ARETOMO2_ALN))
    assert aln.zero_based and aln.raw_size == (1024, 1000, 5) and aln.num_patches == 2
    assert aln.section.tolist() == [5, 2, 1, 3]
    assert [(d.frame, d.section, d.tilt) for d in aln.dark_frames] == [(0, 4, -40.0)]
    assert aln.tilt.tolist() == [-20.0, 0.0, 20.0, 40.0]
    assert aln.tx.tolist() == [12.5, 0.0, -7.125, 1.0] and aln.alpha_offset == 0.0 and aln.thickness is None


def test_aretomo3_aln_one_based_with_offsets(tmp_path):
    text = ARETOMO2_ALN.replace("# DarkFrame =     0    3", "# DarkFrame =     0    4").replace(
        "    0   -95.2000", "    3   -95.2000").replace("    4   -95.0000", "    5   -95.0000")
    offsets = "# AlphaOffset =    -1.25\n# BetaOffset =     0.50\n# Thickness = 300\n"
    text = text.replace("# SEC", offsets + "# SEC")
    aln = read_aln(write(tmp_path / "TS.aln", text))
    assert not aln.zero_based
    assert aln.section.tolist() == [5, 1, 3, 2] and aln.dark_sections.tolist() == [4]
    assert (aln.alpha_offset, aln.beta_offset, aln.thickness) == (-1.25, 0.5, 300)


@pytest.mark.parametrize("edit, words", [
    (lambda t: t.replace("# SEC", "# XYZ"), [":6", "data line before the '# SEC ROT GMAG TX TY"]),
    (lambda t: t.split("# SEC")[0], ["no global alignment block"]),
    (lambda t: t.replace("12.500     -3.250", "12.500"), [":6", "9 fields", "10 (SEC"]),
    (lambda t: t.replace("  0.00     20.00", "  0.00     nan"), [":8", "column TILT"]),
    (lambda t: t.replace("    1   -95.1", "  1.5   -95.1"), [":7", "column SEC"]),
    (lambda t: t.replace("    0   -95.2", "    3   -95.2"), ["section 3 is listed twice"]),
    (lambda t: t.replace("# RawSize = 1024 1000 5", "# RawSize = 1024 x 5"), ["RawSize"]),
    (lambda t: t.replace("# DarkFrame =     0    3   -40.00", "# DarkFrame = 3"), [":4", "DarkFrame"]),
])
def test_malformed_aln_files_name_line_and_column(tmp_path, edit, words):
    with pytest.raises(InputError) as raised:
        read_aln(write(tmp_path / "TS.aln", edit(ARETOMO2_ALN)))
    for word in words:
        assert word in str(raised.value), str(raised.value)


CTF_HEADER = "# Columns: #1 micrograph number; #2 - defocus 1 [A]; ...\n"


def test_ctf_files_of_both_versions(tmp_path):
    rows7 = "   2   30100.00  29900.00     45.00     1.5708    0.0300   12.0000\n" \
            "   1   31100.00  30900.00     44.00     0.0000    0.0200   11.0000\n"
    fits = read_ctf(write(tmp_path / "a.txt", CTF_HEADER + rows7))
    assert fits.hand is None and fits.number.tolist() == [1, 2]  # sorted by micrograph number
    assert fits.defocus_1.tolist() == [31100.0, 30100.0]
    assert fits.phase_shift[1] == pytest.approx(np.pi / 2, abs=1e-4)
    rows8 = "".join(line + "   -1\n" for line in rows7.splitlines())
    assert read_ctf(write(tmp_path / "b.txt", CTF_HEADER + rows8)).hand.tolist() == [-1, -1]


@pytest.mark.parametrize("rows, words", [
    ("   1  1 2 3 4 5 6\n   2  1 2 3 4 5 6 1\n", [":3", "8 columns", "expected 7"]),
    ("   1  1 2 3 4 5 6\n   3  1 2 3 4 5 6\n", ["not consecutive"]),
    ("   1  1 2 3 4 5 6 0\n", ["dfHand"]),
    ("   1  1 2 x 4 5 6\n", [":2", "azimuth"]),
    ("", ["no CTF rows"]),
])
def test_malformed_ctf_files(tmp_path, rows, words):
    with pytest.raises(InputError) as raised:
        read_ctf(write(tmp_path / "c.txt", CTF_HEADER + rows))
    for word in words:
        assert word in str(raised.value), str(raised.value)


# --- the alignment convention, checked through a second, independent RELION code path ----------


def aretomo_xf_line(rot: float, tx: float, ty: float) -> tuple[np.ndarray, np.ndarray]:
    """AreTomo's IMOD export of one .aln row (AreTomo3 ImodUtil/CSaveXF.cpp, mSaveForRelion)."""
    angle = np.radians(rot)
    a = np.array([[np.cos(-angle), -np.sin(-angle)], [np.sin(-angle), np.cos(-angle)]])
    return a, a @ np.array([-tx, -ty])


def relion_from_xf(a: np.ndarray, s: np.ndarray, nominal_axis: float, angpix: float) -> tuple[float, ...]:
    """RELION 5's IMOD reader (src/align_tiltseries_runner.cpp, readIMODResults)."""
    image_shifts = np.linalg.inv(a) @ s
    zrot = np.degrees(np.arccos(a[0, 0]))
    if abs(-nominal_axis - zrot) < abs(nominal_axis - zrot):
        zrot = -zrot
    return -image_shifts[0] * angpix, -image_shifts[1] * angpix, zrot


def test_aretomo_mapping_agrees_with_relions_imod_path_through_aretomos_xf_export(tmp_path):
    aln = read_aln(write(tmp_path / "TS.aln", ARETOMO2_ALN))
    pixel = 1.54
    columns = relion_alignment(aln, pixel)
    assert np.all(columns["rlnTomoXTilt"] == 0) and np.array_equal(columns["rlnTomoYTilt"], aln.tilt)
    for i in range(len(aln)):
        a, s = aretomo_xf_line(aln.rot[i], aln.tx[i], aln.ty[i])
        x, y, zrot = relion_from_xf(a, s, nominal_axis=-95.0, angpix=pixel)
        assert columns["rlnTomoXShiftAngst"][i] == pytest.approx(x, abs=1e-9)
        assert columns["rlnTomoYShiftAngst"][i] == pytest.approx(y, abs=1e-9)
        assert columns["rlnTomoZRot"][i] == pytest.approx(zrot, abs=1e-6)


# --- acquisition order ------------------------------------------------------------------------


def test_order_list_is_matched_to_sections_by_tilt_and_doses_add_up(tmp_path):
    aln = read_aln(write(tmp_path / "TS.aln", ARETOMO2_ALN))  # sections 5, 2, 1, 3 + dark 4
    imod = tmp_path / "TS_Imod"
    imod.mkdir()
    # 0-based acquisition indices (another tool's file) are made 1-based, as AreTomo does.
    write(imod / "TS_order_list.csv", "ImageNumber,TiltAngle\n0,0.00\n1,20.00\n2,-20.00\n3,40.00\n4,-40.00\n")
    acquisition = read_acquisition(tmp_path, "TS", aln, sections=5)
    by_section = dict(zip(range(1, 6), acquisition.order.tolist(), strict=True))
    assert by_section == {5: 3, 2: 1, 1: 2, 3: 4, 4: 5}
    assert acquisition.pre_exposure(aln.section, 2.5).tolist() == [5.0, 0.0, 2.5, 7.5]


def test_per_image_doses_from_tlt(tmp_path):
    aln = read_aln(write(tmp_path / "TS.aln", ARETOMO2_ALN))
    # section: tilt, acquisition, dose — unequal doses as SerialEM may record them
    write(tmp_path / "TS_TLT.txt", " 20.00  2  3.00\n 0.00  1  2.00\n 40.00  4  4.00\n -40.00  5  9.00\n"
                                   " -20.00  3  1.00\n")
    acquisition = read_acquisition(tmp_path, "TS", aln, sections=5)
    assert acquisition.source.name == "TS_TLT.txt"
    assert acquisition.pre_exposure(aln.section, None).tolist() == [5.0, 0.0, 2.0, 6.0]


def test_acquisition_tilts_must_match_the_alignment(tmp_path):
    aln = read_aln(write(tmp_path / "TS.aln", ARETOMO2_ALN))
    write(tmp_path / "TS_TLT.txt", "0.00 1\n20.00 2\n40.00 3\n-40.00 4\n-20.00 5\n")  # wrong order
    with pytest.raises(InputError, match="does not match TILT"):
        read_acquisition(tmp_path, "TS", aln, sections=5)


# --- hand and tomogram depth ------------------------------------------------------------------


def test_hand_choice(tmp_path):
    rows = "   1  30000 29000 10 0 0.1 10{}\n   2  30000 29000 10 0 0.1 10{}\n"
    aretomo2 = read_ctf(write(tmp_path / "2.txt", rows.format("", "")))
    plus = read_ctf(write(tmp_path / "3.txt", rows.format("  1", "  1")))
    minus = read_ctf(write(tmp_path / "4.txt", rows.format("  -1", "  -1")))
    everything = np.arange(2)
    value, why, check = hand.choose("auto", aretomo2, everything)
    assert value == -1 and check and "convention" in why
    assert hand.choose("auto", plus, everything) == (1, "AreTomo3 dfHand +1", False)
    value, why, check = hand.choose("auto", minus, everything)
    assert value == 1 and check and "-TiltAxis" in why
    assert hand.choose("-1", plus, everything) == (-1, "--hand", False)


def volume(path: Path, shape: tuple[int, int, int], voxel: float) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.zeros(shape, dtype=np.int8))
        mrc.voxel_size = voxel
    return path


def test_tomogram_depth_from_either_volume_layout(tmp_path):
    # 4096 × 4096... stack at 1.54 Å; AreTomo volume at 8× (12.32 Å): 512 × 150 × 512 (xzy).
    xzy = read_header(volume(tmp_path / "a.mrc", (512, 150, 512), 12.32))
    assert tomogram_depth(xzy, 1.54, (4096, 4096)) == 1200
    xyz = read_header(volume(tmp_path / "b.mrc", (150, 512, 512), 12.32))
    assert tomogram_depth(xyz, 1.54, (4096, 4096)) == 1200
    square = read_header(volume(tmp_path / "c.mrc", (512, 512, 512), 12.32))
    with pytest.raises(InputError, match="thickness axis"):
        tomogram_depth(square, 1.54, (4096, 4096))


# --- plugin start-up cost and documentation ---------------------------------------------------


def test_loading_the_plugin_imports_no_heavy_module():
    code = ("import sys, py2rely_plugins.aretomo.plugin as p; p.py2rely_importers(); "
            "print(sorted(m for m in ('numpy', 'pandas', 'mrcfile', 'starfile') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_docs_list_every_option_of_the_command():
    help_text = run_py2rely("prepare", "tilt-series", "-h").stdout
    options = re.findall(r"^\s+((?:-\w+, )?--[\w-]+)", help_text, flags=re.M)
    docs = (Path(__file__).parent.parent / "docs" / "prepare-tilt-series.md").read_text()
    assert len(options) >= 20
    for option in options:
        *short, long = option.split(", ")
        if long == "--help":
            continue
        assert f"`{long}`" in docs, long
        for s in short:
            assert f"`{s}`" in docs, s


def test_two_column_rawtlt_gives_the_order_and_a_one_column_one_is_passed_over(tmp_path):
    aln = read_aln(write(tmp_path / "TS.aln", ARETOMO2_ALN))  # sections 5, 2, 1, 3 + dark 4
    write(tmp_path / "TS.rawtlt", "20.0\n0.0\n40.0\n-40.0\n-20.0\n")
    with pytest.raises(InputError, match="no acquisition order"):
        read_acquisition(tmp_path, "TS", aln, sections=5)
    write(tmp_path / "TS.rawtlt", "20.0 1\n0.0 0\n40.0 3\n-40.0 4\n-20.0 2\n")  # 0-based order
    acquisition = read_acquisition(tmp_path, "TS", aln, sections=5)
    assert acquisition.order.tolist() == [2, 1, 4, 5, 3] and acquisition.dose is None
