"""`py2rely prepare template`: the resampling algorithm, the command (through the real CLI), its
errors, the `--parameters` check and `check_template_fits`."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from py2rely_core.errors import InputError
from py2rely_plugins.relion5.sta.params import build_parameters, save_parameters
from py2rely_plugins.relion5.sta.template import (
    TemplateSettings,
    check_template_fits,
    default_output_path,
    make_template,
    read_map_info,
    write_template,
)
from tests.cli_helpers import error_lines, run_py2rely, snapshot

# ---------------------------------------------------------------------------------------------
# helpers


def write_map(path: Path, volume: np.ndarray, voxel_size: float | tuple[float, ...]) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(volume)
        mrc.voxel_size = voxel_size
    return path


def gaussian_blob(shape: tuple[int, int, int], centre: tuple[float, ...], sigma: float,
                  amplitude: float = 1.0) -> np.ndarray:
    grid = np.indices(shape, dtype=np.float64)
    r2 = sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True))
    return (amplitude * np.exp(-r2 / (2 * sigma**2))).astype(np.float32)


def centre_of_mass(volume: np.ndarray) -> np.ndarray:
    weights = np.square(volume.astype(np.float64))
    grid = np.indices(volume.shape)
    return np.array([(weights * g).sum() / weights.sum() for g in grid])


def read(path: Path) -> tuple[np.ndarray, float]:
    with mrcfile.open(path, permissive=True) as mrc:
        return np.array(mrc.data), float(mrc.voxel_size.x)


def template(path: Path, **settings) -> np.ndarray:
    info = read_map_info(path)
    options = {"input_voxel_size": info.voxel_size, "low_pass": 2 * settings["output_voxel_size"]}
    options.update(settings)
    return make_template(info, TemplateSettings(**options))


def prepare_template(cwd: Path, *args: str):
    return run_py2rely("prepare", "template", *args, cwd=cwd)


def radial_mean(amplitude: np.ndarray, shells: np.ndarray, shell: int) -> float:
    return float(amplitude[shells == shell].mean())


@pytest.fixture
def blob_map(tmp_path: Path) -> Path:
    """A 64³ map at 1 Å with a smooth blob off the centre voxel (32, 32, 32)."""
    return write_map(tmp_path / "blob.mrc", gaussian_blob((64, 64, 64), (35.0, 30.0, 33.0), 3.0), 1.0)


# ---------------------------------------------------------------------------------------------
# the algorithm


def test_low_pass_amplitude_is_half_at_the_cutoff_and_one_at_low_frequency(tmp_path):
    # White noise 128³ at 1 Å → 64³ at 2 Å, low-pass 8 Å. The output samples the input's even
    # voxels, so its DFT is the input's cropped to |f| < 1/4 Å⁻¹, scaled by (64/128)³, times G.
    noise = np.random.default_rng(1).standard_normal((128, 128, 128)).astype(np.float32)
    path = write_map(tmp_path / "noise.mrc", noise, 1.0)
    out = template(path, output_voxel_size=2.0, box=64, low_pass=8.0)

    out_spectrum = np.abs(np.fft.fftn(out))
    k = np.fft.fftfreq(64, d=1 / 64).astype(int)
    cropped = np.fft.fftn(noise)[np.ix_(k % 128, k % 128, k % 128)]
    in_spectrum = np.abs(cropped) * (64 / 128) ** 3
    kz, ky, kx = np.meshgrid(k, k, k, indexing="ij")
    shells = np.rint(np.sqrt(kz**2 + ky**2 + kx**2)).astype(int)
    cutoff_shell = 16  # f = 16 / (64 × 2 Å) = 1/8 Å⁻¹ = 1 / low-pass

    def ratio(shell: int) -> float:
        return radial_mean(out_spectrum, shells, shell) / radial_mean(in_spectrum, shells, shell)

    assert ratio(cutoff_shell) == pytest.approx(0.5, abs=0.05)
    assert ratio(2) == pytest.approx(1.0, abs=0.05)
    assert ratio(0) == pytest.approx(1.0, abs=1e-3)  # the mean is kept exactly
    # and everywhere the documented Gaussian, exp(-ln 2 (f lp)²)
    for shell in (4, 8, 24):
        expected = math.exp(-math.log(2) * (shell / 128 * 8.0) ** 2)
        assert ratio(shell) == pytest.approx(expected, rel=0.05)


def test_identity_resampling_only_filters(tmp_path):
    noise = np.random.default_rng(2).standard_normal((48, 48, 48)).astype(np.float32)
    path = write_map(tmp_path / "noise.mrc", noise, 1.5)
    out = template(path, output_voxel_size=1.5, box=48, low_pass=6.0)
    k = np.fft.fftfreq(48, d=1.5)
    f2 = k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2
    expected = np.fft.ifftn(np.fft.fftn(noise) * np.exp(-math.log(2) * f2 * 36.0)).real
    np.testing.assert_allclose(out, expected, atol=2e-4)


@pytest.mark.parametrize(("output_voxel", "box"), [(2.0, 32), (3.0, 24), (2.5, 40), (0.5, 128)])
def test_resampling_keeps_a_smooth_blob_centre_values_and_integral(blob_map, output_voxel, box):
    # down-sampling by 2, 3 and the non-integer 2.5, and up-sampling by 2
    out = template(blob_map, output_voxel_size=output_voxel, box=box, low_pass=2 * output_voxel)
    source = read(blob_map)[0]
    expected_centre = box // 2 + (np.array([35.0, 30.0, 33.0]) - 32) / output_voxel
    np.testing.assert_allclose(centre_of_mass(out), expected_centre, atol=0.02)
    # integral in Å³ (= mean density × volume) is kept
    assert out.sum() * output_voxel**3 == pytest.approx(source.sum(), rel=1e-3)
    # voxel by voxel: the blob convolved with the filter's Gaussian (σ² = ln 2 · lp² / 2π²),
    # sampled at the output voxel centres (densities keep their values: no rescaling)
    filter_var = math.log(2) * (2 * output_voxel) ** 2 / (2 * math.pi**2)
    var = 3.0**2 + filter_var
    positions = 32 + (np.indices(out.shape) - box // 2) * output_voxel
    r2 = sum((p - c) ** 2 for p, c in zip(positions, (35.0, 30.0, 33.0), strict=True))
    expected = (3.0**2 / var) ** 1.5 * np.exp(-r2 / (2 * var))
    np.testing.assert_allclose(out, expected, atol=5e-3)


def test_content_above_the_output_nyquist_does_not_alias(tmp_path):
    blob = gaussian_blob((64, 64, 64), (32.0, 32.0, 32.0), 4.0)
    x = np.arange(64)
    # 0.375 cycles/Å: beyond the 0.25 Å⁻¹ Nyquist of 2 Å voxels; trilinear resampling would fold
    # it to 0.125 Å⁻¹ and keep most of its amplitude.
    ripple = (0.5 * np.cos(2 * np.pi * 0.375 * x)).astype(np.float32)
    plain = write_map(tmp_path / "plain.mrc", blob, 1.0)
    rippled = write_map(tmp_path / "rippled.mrc", blob + ripple[None, None, :], 1.0)
    a = template(plain, output_voxel_size=2.0, box=32, low_pass=4.0)
    b = template(rippled, output_voxel_size=2.0, box=32, low_pass=4.0)
    assert np.abs(a - b).max() < 1e-4


def test_non_cubic_maps_keep_their_centre(tmp_path):
    blob = gaussian_blob((40, 64, 50), (22.0, 30.0, 25.0), 3.0)
    path = write_map(tmp_path / "slab.mrc", blob, 1.0)
    out = template(path, output_voxel_size=2.0, box=36, low_pass=4.0)
    assert out.shape == (36, 36, 36)
    expected = 18 + (np.array([22.0, 30.0, 25.0]) - np.array([20, 32, 25])) / 2.0
    np.testing.assert_allclose(centre_of_mass(out), expected, atol=0.02)


def test_integer_and_compressed_maps_are_read(tmp_path, blob_map):
    reference = template(blob_map, output_voxel_size=2.0, box=32)
    as_int16 = write_map(tmp_path / "int16.mrc", (read(blob_map)[0] * 1000).astype(np.int16), 1.0)
    np.testing.assert_allclose(template(as_int16, output_voxel_size=2.0, box=32) / 1000, reference,
                               atol=1e-3)
    packed = tmp_path / "blob.map.gz"
    packed.write_bytes(gzip.compress(blob_map.read_bytes()))
    np.testing.assert_allclose(template(packed, output_voxel_size=2.0, box=32), reference, atol=1e-6)


def test_write_is_float32_with_voxel_size_and_an_ascii_label(tmp_path):
    volume = np.arange(16**3, dtype=np.float64).reshape(16, 16, 16)
    write_template(volume, tmp_path / "t.mrc", 6.16, label="py2rely template from émd_1.map")
    with mrcfile.open(tmp_path / "t.mrc") as mrc:
        assert mrc.data.dtype == np.float32 and float(mrc.voxel_size.x) == pytest.approx(6.16)
        assert mrc.get_labels()[-1] == "py2rely template from ?md_1.map"
    assert [p.name for p in tmp_path.iterdir()] == ["t.mrc"]  # no temporary file left


def test_default_output_name_uses_the_file_stem():
    assert default_output_path("maps/emd_41917.map", 6.16) == Path("template_emd_41917_6.16A.mrc")
    assert default_output_path("./a/map_v1.2.mrc", 8.3) == Path("template_map_v1.2_8.3A.mrc")
    assert default_output_path("emd_1.map.gz", 10.0) == Path("template_emd_1_10A.mrc")


# ---------------------------------------------------------------------------------------------
# the command


def test_pad_and_crop_to_exactly_the_box(tmp_path, blob_map):
    before = snapshot([blob_map])
    for box in ("48", "24"):  # natural size at 2 Å is 32: pad to 48, crop to 24
        out = tmp_path / f"t{box}.mrc"
        result = prepare_template(tmp_path, "-i", str(blob_map), "-o", str(out), "-ovs", "2",
                                  "-b", box)
        assert result.returncode == 0, result.stderr
        volume, voxel = read(out)
        assert volume.shape == (int(box),) * 3 and volume.dtype == np.float32
        assert voxel == pytest.approx(2.0, abs=1e-5)
        with mrcfile.open(out) as mrc:  # header statistics describe the data
            assert float(mrc.header.dmax) == pytest.approx(float(volume.max()), rel=1e-5)
            assert float(mrc.header.dmean) == pytest.approx(float(volume.mean()), rel=1e-4, abs=1e-7)
    padded, cropped = read(tmp_path / "t48.mrc")[0], read(tmp_path / "t24.mrc")[0]
    # the same density, centred on voxel box//2 in both
    np.testing.assert_allclose(padded[12:36, 12:36, 12:36], cropped, atol=1e-5)
    assert np.all(padded[0] == 0) and np.all(padded[-1] == 0)  # zero padding beyond the map
    assert snapshot([blob_map]) == before  # input untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.mrc", "t24.mrc", "t48.mrc"]


def test_defaults_name_box_low_pass_and_header_voxel_size(tmp_path):
    maps = tmp_path / "maps"
    maps.mkdir()
    blob = gaussian_blob((100, 100, 100), (50.0, 50.0, 50.0), 5.0)
    write_map(maps / "emd_1234.map", blob, 1.0)
    result = prepare_template(tmp_path, "-i", "maps/emd_1234.map", "-ovs", "3")
    assert result.returncode == 0, result.stderr
    volume, voxel = read(tmp_path / "template_emd_1234_3A.mrc")
    # 100 × 1 / 3 = 33.3 voxels, rounded up to the next FFT-friendly box
    assert volume.shape == (36, 36, 36)
    assert voxel == pytest.approx(3.0, abs=1e-5)
    assert "low-pass 6 Å" in result.stdout  # 2 × output voxel size


def test_centre_moves_the_centre_of_mass_to_the_centre_voxel(tmp_path):
    blob = gaussian_blob((65, 65, 65), (40.0, 25.5, 36.0), 3.0)  # odd box: centre voxel 32
    path = write_map(tmp_path / "off.mrc", blob, 1.0)
    result = prepare_template(tmp_path, "-i", str(path), "-o", "c.mrc", "-ovs", "2", "-b", "40", "-c")
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(centre_of_mass(read(tmp_path / "c.mrc")[0]), [20, 20, 20], atol=0.05)


def test_invert_and_mirror(tmp_path):
    # Three blobs of different sizes on the +z, +y and +x axes: a chiral object.
    shape = (64, 64, 64)
    chiral = (gaussian_blob(shape, (44, 32, 32), 3.0) + gaussian_blob(shape, (32, 40, 32), 2.5, 0.7)
              + gaussian_blob(shape, (32, 32, 38), 2.0, 0.4))
    path = write_map(tmp_path / "chiral.mrc", chiral, 1.0)
    common = ["-i", str(path), "-ovs", "2", "-b", "32"]
    for name, flags in (("plain", []), ("inverted", ["--invert"]), ("mirrored", ["-m"])):
        result = prepare_template(tmp_path, *common, "-o", f"{name}.mrc", *flags)
        assert result.returncode == 0, result.stderr
    plain, inverted, mirrored = (read(tmp_path / f"{n}.mrc")[0] for n in ("plain", "inverted", "mirrored"))
    np.testing.assert_array_equal(inverted, -plain)
    # mirrored about the centre voxel 16 along the first axis (z): voxel j ↔ voxel 32 - j
    np.testing.assert_allclose(mirrored[1:], plain[:0:-1], atol=1e-6)
    assert centre_of_mass(plain)[0] > 16 > centre_of_mass(mirrored)[0]
    np.testing.assert_allclose(centre_of_mass(mirrored)[1:], centre_of_mass(plain)[1:], atol=1e-6)
    # a hand flip, not a rotation: no rotation about the centre maps plain onto mirrored, and in
    # particular the 180° turn about y (which also sends +z to -z) does not
    assert np.abs(plain[:0:-1, :, :0:-1] - mirrored[1:, :, 1:]).max() > 0.1


def test_input_voxel_size_overrides_the_header(tmp_path, blob_map):
    # The header says 1 Å; with -ivs 0.5 the same 64 voxels span 32 Å: 16 voxels at 2 Å.
    result = prepare_template(tmp_path, "-i", str(blob_map), "-o", "half.mrc", "-ivs", "0.5",
                              "-ovs", "2")
    assert result.returncode == 0, result.stderr
    assert "differs from the map header" in result.stderr
    assert read(tmp_path / "half.mrc")[0].shape == (16, 16, 16)
    aniso = write_map(tmp_path / "aniso.mrc", read(blob_map)[0], (1.0, 1.0, 1.2))
    result = prepare_template(tmp_path, "-i", str(aniso), "-o", "aniso_t.mrc", "-ivs", "1", "-ovs", "2")
    assert result.returncode == 0, result.stderr


def test_log_level_option_silences_info(tmp_path, blob_map):
    result = prepare_template(tmp_path, "-i", str(blob_map), "-o", "q.mrc", "-ovs", "2", "--log", "30")
    assert result.returncode == 0, result.stderr
    assert "template written" not in result.stderr
    loud = prepare_template(tmp_path, "-i", str(blob_map), "-o", "l.mrc", "-ovs", "2")
    assert "template written" in loud.stderr


# ---------------------------------------------------------------------------------------------
# errors: one line, non-zero exit, nothing written


def assert_refused(result, cwd: Path, before: set[str], *words: str) -> None:
    assert result.returncode != 0
    errors = error_lines(result)
    assert len(errors) == 1, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    assert {p.name for p in cwd.iterdir()} == before  # no output, no temporary file


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-i", "missing.mrc", "-ovs", "2"], ["missing.mrc", "not found"]),
        (["-i", "notes.txt", "-ovs", "2"], ["notes.txt", "not an MRC"]),
        (["-i", "blob.mrc", "-ovs", "0"], ["--output-voxel-size"]),
        (["-i", "blob.mrc", "-ovs", "2", "-ivs", "-1"], ["--input-voxel-size"]),
        (["-i", "blob.mrc", "-ovs", "2", "-b", "33"], ["--box-size", "odd", "32 or 34"]),
        (["-i", "blob.mrc", "-ovs", "2", "-b", "12"], ["--box-size", "at least 16"]),
        (["-i", "blob.mrc", "-ovs", "2", "-lp", "3.9"], ["--low-pass", "Nyquist", "-lp >= 4"]),
        (["-i", "blob.mrc", "-ovs", "2", "-o", "blob.mrc"], ["--output", "input"]),
        (["-i", "nohead.mrc", "-ovs", "2"], ["--input-voxel-size", "no voxel size", "-ivs"]),
        (["-i", "aniso.mrc", "-ovs", "2"], ["--input-voxel-size", "different voxel sizes", "-ivs"]),
        (["-ovs", "2"], ["--input"]),
        (["-i", "blob.mrc"], ["--output-voxel-size"]),
    ],
    ids=["missing", "not-mrc", "zero-ovs", "negative-ivs", "odd-box", "small-box", "low-pass",
         "overwrite-input", "no-header-voxel", "anisotropic-header", "no-input", "no-ovs"],
)
def test_errors_are_one_line_and_write_nothing(tmp_path, args, words):
    write_map(tmp_path / "blob.mrc", gaussian_blob((32, 32, 32), (16, 16, 16), 3.0), 1.0)
    write_map(tmp_path / "nohead.mrc", gaussian_blob((32, 32, 32), (16, 16, 16), 3.0), 0.0)
    write_map(tmp_path / "aniso.mrc", gaussian_blob((32, 32, 32), (16, 16, 16), 3.0), (1.0, 1.0, 1.5))
    (tmp_path / "notes.txt").write_text("not a map\n" * 200)
    before_files = snapshot([tmp_path / "blob.mrc"])
    before = {p.name for p in tmp_path.iterdir()}
    assert_refused(prepare_template(tmp_path, *args), tmp_path, before, *words)
    assert snapshot([tmp_path / "blob.mrc"]) == before_files


# ---------------------------------------------------------------------------------------------
# fitting the parameter file's first binning


@pytest.fixture
def parameters(tmp_path: Path):
    """First binning: bin 4 at 8 Å per pixel, box 32 (2 × 100 Å / 8 Å = 25 → 32)."""
    params = build_parameters(
        tilt_series="ts.star", particles="p.star", tilt_series_pixel_size=2.0, symmetry="C1",
        low_pass=40, diameter=100, denovo=False, box_scaling=2.0, binning_list=[4, 2, 1],
        threads=1, processes=1,
    )
    assert (params.first.box, params.first.pixel_size) == (32, 8.0)
    path = tmp_path / "sta_parameters.json"
    save_parameters(params, path)
    return params, path


def test_parameters_accepts_a_fitting_template_and_defaults_the_box(tmp_path, parameters, blob_map):
    params, path = parameters
    result = prepare_template(tmp_path, "-i", str(blob_map), "-o", "t.mrc", "-ovs", "8",
                              "--parameters", str(path))
    assert result.returncode == 0, result.stderr
    volume, voxel = read(tmp_path / "t.mrc")
    assert volume.shape == (32, 32, 32) and voxel == pytest.approx(8.0, abs=1e-5)
    check_template_fits(tmp_path / "t.mrc", params)  # and the pipeline's check agrees


@pytest.mark.parametrize("args", [["-ovs", "8", "-b", "36"], ["-ovs", "7.5", "-b", "32"]])
def test_parameters_refuses_a_template_that_does_not_fit(tmp_path, parameters, blob_map, args):
    _, path = parameters
    before = {p.name for p in tmp_path.iterdir()}
    result = prepare_template(tmp_path, "-i", str(blob_map), "-o", "t.mrc", *args,
                              "--parameters", str(path))
    assert_refused(result, tmp_path, before, "--parameters", "bin 4", "32 px at 8 Å", "use -ovs 8 -b 32")


def test_check_template_fits(tmp_path, parameters):
    params, _ = parameters
    cube = gaussian_blob((32, 32, 32), (16, 16, 16), 3.0)
    check_template_fits(write_map(tmp_path / "good.mrc", cube, 8.0005), params)  # within 1e-3 Å
    cases = {
        "box.mrc": (gaussian_blob((36, 36, 36), (18, 18, 18), 3.0), 8.0, "36 px at 8 Å"),
        "voxel.mrc": (cube, 8.3, "32 px at 8.3 Å"),
        "slab.mrc": (gaussian_blob((30, 32, 32), (15, 16, 16), 3.0), 8.0, "not a cube"),
        "nohead.mrc": (cube, 0.0, "no voxel size"),
        "aniso.mrc": (cube, (8.0, 8.0, 8.3), "anisotropic"),
    }
    for name, (volume, voxel, words) in cases.items():
        with pytest.raises(InputError) as caught:
            check_template_fits(write_map(tmp_path / name, volume, voxel), params)
        message = str(caught.value)
        assert name in message and words in message and "-ovs 8 -b 32" in message
        assert "\n" not in message
    with pytest.raises(InputError, match="not found"):
        check_template_fits(tmp_path / "absent.mrc", params)
