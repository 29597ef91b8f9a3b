"""Reference templates: an EM density map resampled to the voxel size and box of the first binning.

The output is the band-limited (Fourier) interpolant of the input map, Gaussian low-pass filtered
and sampled at exactly the output voxel size on a ``box``³ grid whose centre voxel ``box // 2``
(RELION's convention) holds the input's centre voxel ``n // 2`` (or its centre of mass with
``center``). Concretely:

1. The input is read in slabs of z-planes as float32 (never loaded whole, never modified).
2. Forward real FFT, axis by axis (x, then y, then z), keeping after each axis only the
   frequencies the output grid can hold (|f| <= 1 / (2 × output voxel)). That is the input's
   rFFT cropped to the output band without ever holding the full spectrum: frequencies above the
   output Nyquist are dropped, so nothing aliases.
3. The kept spectrum is multiplied by the Gaussian G(f) = exp(-ln 2 · (f · low_pass)²), whose
   amplitude is exactly 0.5 at f = 1 / low_pass (and 1 at f = 0, so the mean is kept).
4. The output is evaluated directly at the output voxel positions with three small separable
   inverse DFTs (one matrix per axis). Unlike cropping the spectrum to a grid of
   round(n × ivs / ovs) voxels followed by an inverse FFT, this samples at exactly the output voxel
   size (a grid of 54 voxels for 400 × 0.83 / 6.16 = 53.9 would give 6.148 Å voxels labelled
   6.16 Å), and it folds in the box pad/crop, a sub-voxel centre-of-mass shift and the mirror at
   no cost. The inverse is scaled by 1 / n per axis, so densities keep their values (and a
   blob its integral × voxel volume).

The interpolant is periodic over each axis' FFT length; output voxels outside one period centred
on the map are zero, which is the zero-padding of a box larger than the map.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
import scipy.fft
from mrcfile.utils import data_dtype_from_header, data_shape_from_header

from py2rely_core import atomic, log
from py2rely_core.errors import InputError
from py2rely_plugins.relion5.sta.boxsize import MAX_BOX, fft_friendly_at_least
from py2rely_plugins.relion5.sta.params import Parameters

MIN_BOX = 16  # the smallest box the parameter model accepts for a binning
VOXEL_TOLERANCE = 1e-3  # Å; closer voxel sizes are the same for RELION's purposes
MRC_HEADER_BYTES = 1024
_SLAB_ELEMENTS = 1 << 22  # ~16 MB of float32 per slab: big enough for FFT batching, small in RAM
_GZIP_MAGIC = b"\x1f\x8b"
_BZIP2_MAGIC = b"BZ"


@dataclass(frozen=True)
class MapInfo:
    """What the header of a 3-D MRC map says, checked against the file's size."""

    path: Path
    shape: tuple[int, int, int]  # (z, y, x), the order of the data array
    header_voxel_sizes: tuple[float, float, float]  # (x, y, z) Å, cell / samples; 0 = none given
    dtype: np.dtype
    data_offset: int
    compressed: bool

    @property
    def is_cubic(self) -> bool:
        return len(set(self.shape)) == 1

    @property
    def has_voxel_size(self) -> bool:
        return all(size > 0 for size in self.header_voxel_sizes)

    @property
    def is_isotropic(self) -> bool:
        return max(self.header_voxel_sizes) - min(self.header_voxel_sizes) <= VOXEL_TOLERANCE

    @property
    def voxel_size(self) -> float | None:
        """The header's voxel size (Å), or None if it gives none or different ones per axis."""
        if not (self.has_voxel_size and self.is_isotropic):
            return None
        return self.header_voxel_sizes[0]


@dataclass(frozen=True)
class TemplateSettings:
    input_voxel_size: float  # Å
    output_voxel_size: float  # Å
    box: int  # output edge, voxels
    low_pass: float  # Å; Gaussian amplitude 0.5 at 1 / low_pass
    center: bool = False
    invert: bool = False
    mirror: bool = False


# ---------------------------------------------------------------------------------------------
# Reading


def _is_compressed(path: Path) -> bool:
    with open(path, "rb") as handle:
        start = handle.read(212)
    # mrcfile's own test: a real MRC has "MAP " at byte 208, whatever its first bytes are.
    return start[208:212] != b"MAP " and start[:2] in (_GZIP_MAGIC, _BZIP2_MAGIC)


def read_map_info(path: str | os.PathLike[str], where: str = "--input") -> MapInfo:
    """Parse and check an MRC header; InputError (naming ``where``) if it is not a usable 3-D map."""
    path = Path(path)
    if not path.exists():
        raise InputError(where, f"{path}: file not found", "an MRC density map")
    if not path.is_file():
        raise InputError(where, f"{path}: not a file", "an MRC density map")
    not_mrc = InputError(where, f"{path}: not an MRC file", "an MRC/CCP4 density map (.mrc, .map)")
    try:
        compressed = _is_compressed(path)
        with warnings.catch_warnings():
            # Permissive: old maps without the "MAP " ID are still usable; the size check below
            # is what tells a map from any other file.
            warnings.simplefilter("ignore")
            with mrcfile.open(path, permissive=True, header_only=True) as mrc:
                header = mrc.header.copy()
                extended_bytes = int(mrc.header.nsymbt)
                voxel = mrc.voxel_size
        dtype = data_dtype_from_header(header)
        shape = data_shape_from_header(header)
    except (ValueError, TypeError, OSError, EOFError, AttributeError):
        raise not_mrc from None
    if any(int(n) <= 0 for n in (header.nx, header.ny, header.nz)):
        raise not_mrc
    if np.issubdtype(dtype, np.complexfloating):
        raise InputError(where, f"{path}: holds complex (Fourier) data", "a real-space density map")
    if len(shape) != 3:
        raise InputError(where, f"{path}: is a {len(shape)}-D {'stack' if len(shape) > 3 else 'image'}",
                         "a single 3-D density map")
    data_offset = MRC_HEADER_BYTES + extended_bytes
    if not compressed:
        expected = data_offset + math.prod(shape) * dtype.itemsize
        if path.stat().st_size < expected:
            raise not_mrc
    return MapInfo(
        path=path, shape=(int(shape[0]), int(shape[1]), int(shape[2])),
        # The header holds float32: round so that 0.83 does not read 0.82999998.
        header_voxel_sizes=(round(float(voxel.x), 6), round(float(voxel.y), 6), round(float(voxel.z), 6)),
        dtype=dtype, data_offset=data_offset, compressed=compressed,
    )


def _iter_slabs(info: MapInfo) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (first z, float32 slab of z-planes) over the whole map, holding one slab at a time."""
    nz, ny, nx = info.shape
    planes = max(1, _SLAB_ELEMENTS // (ny * nx))
    if info.compressed:
        # Compressed maps (EMDB ships .map.gz) cannot be read in place; mrcfile inflates them.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.open(info.path, permissive=True) as mrc:
                data = mrc.data
                for z0 in range(0, nz, planes):
                    yield z0, np.asarray(data[z0 : z0 + planes], dtype=np.float32)
        return
    # Plain reads into one reused buffer: a memory map would count every page of the input in
    # this process' resident memory, and a fresh array per slab would fault its pages in again.
    raw = np.empty(planes * ny * nx, dtype=info.dtype)
    native_float32 = raw.dtype == np.float32 and raw.dtype.isnative
    converted = raw if native_float32 else np.empty(raw.size, dtype=np.float32)
    with open(info.path, "rb") as handle:
        handle.seek(info.data_offset)
        for z0 in range(0, nz, planes):
            count = min(planes, nz - z0) * ny * nx
            view = raw[:count]
            if handle.readinto(memoryview(view).cast("B")) != view.nbytes:
                raise InputError("--input", f"{info.path}: data block is shorter than the header says")
            slab = converted[:count]
            if not native_float32:
                np.copyto(slab, view)
            yield z0, slab.reshape(-1, ny, nx)


# ---------------------------------------------------------------------------------------------
# Options


def format_voxel(voxel: float) -> str:
    """6.16 → '6.16', 10.0 → '10', 8.30 → '8.3': the voxel size as written in file names."""
    return f"{voxel:.4f}".rstrip("0").rstrip(".")


def map_stem(path: str | os.PathLike[str]) -> str:
    """'maps/emd_41917.map.gz' → 'emd_41917'; 'map_v1.2.mrc' → 'map_v1.2'."""
    name = Path(path).name
    for packed in (".gz", ".bz2"):
        name = name.removesuffix(packed)
    return Path(name).stem


def default_output_path(input_path: str | os.PathLike[str], output_voxel_size: float) -> Path:
    return Path(f"template_{map_stem(input_path)}_{format_voxel(output_voxel_size)}A.mrc")


def default_low_pass(output_voxel_size: float) -> float:
    return 2.0 * output_voxel_size


def natural_box(shape: tuple[int, ...], input_voxel_size: float, output_voxel_size: float) -> float:
    """The map's largest edge in output voxels."""
    return max(shape) * input_voxel_size / output_voxel_size


def default_box(shape: tuple[int, ...], input_voxel_size: float, output_voxel_size: float) -> int:
    natural = natural_box(shape, input_voxel_size, output_voxel_size)
    try:
        return fft_friendly_at_least(max(natural, MIN_BOX))
    except ValueError as exc:
        raise InputError("--box-size", str(exc), "a smaller map or a larger -ovs") from None


def check_box(box: int) -> None:
    if box % 2:
        raise InputError("--box-size", f"{box} is odd; RELION boxes must be even",
                         f"{box - 1} or {box + 1}")
    if box < MIN_BOX:
        raise InputError("--box-size", f"{box} px is too small", f"at least {MIN_BOX}")
    if box > MAX_BOX:
        raise InputError("--box-size", f"{box} px exceeds the largest supported box",
                         f"at most {MAX_BOX}")


def check_low_pass(low_pass: float, output_voxel_size: float) -> None:
    nyquist = 2.0 * output_voxel_size
    if low_pass < nyquist * (1 - 1e-9):
        raise InputError(
            "--low-pass", f"{low_pass:g} Å is finer than the output Nyquist resolution "
            f"{nyquist:g} Å (2 × {output_voxel_size:g} Å voxels), which the output cannot hold",
            f"-lp >= {nyquist:g}, or a smaller -ovs",
        )


def _input_voxel_size(info: MapInfo, given: float | None) -> float:
    """-ivs if given (a warning if the header disagrees), else the header's isotropic voxel size."""
    if given is not None:
        if info.has_voxel_size and max(abs(s - given) for s in info.header_voxel_sizes) > VOXEL_TOLERANCE:
            log.get_logger("prepare.template").warning(
                "-ivs differs from the map header; using -ivs", header=info.header_voxel_sizes,
                ivs=given)
        return given
    if not info.has_voxel_size:
        raise InputError("--input-voxel-size", f"not given, and {info.path} has no voxel size "
                         "in its header", "-ivs with the map's voxel size in Å")
    if info.voxel_size is None:
        x, y, z = info.header_voxel_sizes
        raise InputError("--input-voxel-size", f"not given, and the header of {info.path} gives "
                         f"different voxel sizes per axis ({x:g} × {y:g} × {z:g} Å)",
                         "-ivs with the map's (isotropic) voxel size in Å")
    return info.voxel_size


def resolve_settings(
    info: MapInfo, *, input_voxel_size: float | None, output_voxel_size: float,
    low_pass: float | None, box: int | None, center: bool = False, invert: bool = False,
    mirror: bool = False, params: Parameters | None = None,
) -> TemplateSettings:
    """The command's options with their defaults filled in, all checked (InputError otherwise).

    With ``params`` the box defaults to the first binning's, and settings that do not fit that
    binning are refused.
    """
    ivs = _input_voxel_size(info, input_voxel_size)
    if box is None:
        box = params.first.box if params is not None else default_box(info.shape, ivs, output_voxel_size)
    check_box(box)
    if low_pass is None:
        low_pass = default_low_pass(output_voxel_size)
    check_low_pass(low_pass, output_voxel_size)
    if params is not None:
        check_settings_fit(box, output_voxel_size, params)
    map_edge = natural_box(info.shape, ivs, output_voxel_size)
    if box < map_edge:
        log.get_logger("prepare.template").warning(
            "the box is smaller than the map: its edges are cropped", box=box,
            map_edge_px=round(map_edge, 1))
    return TemplateSettings(
        input_voxel_size=ivs, output_voxel_size=output_voxel_size, box=box, low_pass=low_pass,
        center=center, invert=invert, mirror=mirror,
    )


def _fits(box: int, voxel: float, params: Parameters) -> bool:
    first = params.first
    return box == first.box and abs(voxel - first.pixel_size) <= VOXEL_TOLERANCE


def _first_binning(params: Parameters) -> str:
    first = params.first
    return f"the first binning (bin {first.binning}) needs {first.box} px at {first.pixel_size:g} Å"


def fitting_options(params: Parameters) -> str:
    """The `prepare template` options that make a template for the first binning."""
    first = params.first
    return f"-ovs {format_voxel(first.pixel_size)} -b {first.box}"


def check_settings_fit(box: int, output_voxel_size: float, params: Parameters,
                       where: str = "--parameters") -> None:
    """InputError unless a template made with these settings serves the first binning."""
    if not _fits(box, output_voxel_size, params):
        raise InputError(where, f"the template would be {box} px at {output_voxel_size:g} Å but "
                         f"{_first_binning(params)}; use {fitting_options(params)}")


def check_template_fits(template_path: str | os.PathLike[str], params: Parameters) -> None:
    """InputError unless the MRC at ``template_path`` is a cube of the first binning's box with its
    pixel size (header voxel size within 1e-3 Å). Reads the header only.
    """
    where = str(template_path)
    info = read_map_info(template_path, where="reference template")
    remake = f"remake it with `py2rely prepare template ... {fitting_options(params)}`"
    if not info.is_cubic:
        nz, ny, nx = info.shape
        raise InputError(where, f"template box {nx} × {ny} × {nz} px is not a cube; {remake}")
    if not info.has_voxel_size:
        raise InputError(where, f"template header has no voxel size; {remake}")
    if info.voxel_size is None:
        x, y, z = info.header_voxel_sizes
        raise InputError(where, f"template voxel size {x:g} × {y:g} × {z:g} Å is anisotropic; {remake}")
    if not _fits(info.shape[0], info.voxel_size, params):
        raise InputError(where, f"template is {info.shape[0]} px at {info.voxel_size:g} Å but "
                         f"{_first_binning(params)}; {remake}")
    check_finite_data(info, where)


def check_finite_data(info: MapInfo, where: str) -> None:
    """InputError unless every voxel is a finite number (a template of the first binning's box
    is small, so reading it whole costs little next to what a refinement against NaN would)."""
    for z0, slab in _iter_slabs(info):
        finite = np.isfinite(slab)
        if not finite.all():
            z, y, x = np.argwhere(~finite)[0]
            value = slab[z, y, x]
            raise InputError(where, f"voxel (x {x}, y {y}, z {z0 + z}) is {_describe(value)}; "
                             "the map must hold finite numbers only",
                             "a template made with `py2rely prepare template`")


def _describe(value: float) -> str:
    return "NaN" if np.isnan(value) else ("infinity" if value > 0 else "-infinity")


# ---------------------------------------------------------------------------------------------
# Resampling


@dataclass(frozen=True)
class _Axis:
    """One axis of the input: its length, FFT length and how many frequencies the output keeps."""

    length: int
    period: int  # FFT length (>= length, zero-padded at the end): the interpolant's period
    kept: int  # highest frequency index kept (cycles per period)

    @classmethod
    def plan(cls, length: int, input_voxel: float, output_voxel: float, real: bool) -> _Axis:
        period = scipy.fft.next_fast_len(length, real=real)
        output_nyquist_index = period * input_voxel / (2.0 * output_voxel)
        kept = min(math.floor(output_nyquist_index + 1e-9), period // 2)
        return cls(length=length, period=period, kept=kept)

    def signed_indices(self) -> np.ndarray:
        """Storage indices of the frequencies -kept..kept in an FFT of length ``period``."""
        return np.arange(-self.kept, self.kept + 1) % self.period


def _forward_spectrum(info: MapInfo, axes: tuple[_Axis, _Axis, _Axis], workers: int,
                      center: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The map's rFFT cropped to the kept frequencies, shape (2kz+1, 2ky+1, kx+1), signed order on
    z and y; and the centre of mass of the squared density (z, y, x voxels) if asked for."""
    z_axis, y_axis, x_axis = axes
    y_keep = y_axis.signed_indices()
    partial = np.empty((z_axis.length, y_keep.size, x_axis.kept + 1), dtype=np.complex64)
    weight_sum = 0.0
    moments = np.zeros(3)
    for z0, slab in _iter_slabs(info):
        if center:
            # Squared density: independent of the map's contrast sign, and it weights the particle
            # far above low-level solvent noise (which would pull a plain mean to the box centre).
            squared = np.square(slab)
            per_zy = squared.sum(axis=2, dtype=np.float64)
            per_x = squared.sum(axis=(0, 1), dtype=np.float64)
            per_z = per_zy.sum(axis=1)
            weight_sum += per_z.sum()
            moments += (
                per_z @ np.arange(z0, z0 + slab.shape[0]),
                per_zy.sum(axis=0) @ np.arange(slab.shape[1]),
                per_x @ np.arange(slab.shape[2]),
            )
        along_x = scipy.fft.rfft(slab, n=x_axis.period, axis=2, workers=workers)
        along_y = scipy.fft.fft(along_x[:, :, : x_axis.kept + 1], n=y_axis.period, axis=1,
                                workers=workers)
        partial[z0 : z0 + slab.shape[0]] = along_y[:, y_keep, :]
    spectrum = scipy.fft.fft(partial, n=z_axis.period, axis=0, workers=workers)
    spectrum = spectrum[z_axis.signed_indices()]
    if not np.isfinite(spectrum).all():
        raise InputError("--input", f"{info.path}: the map contains NaN or infinite values")
    centre_of_mass = None
    if center:
        if weight_sum <= 0:
            raise InputError("--center", f"{info.path}: the map is empty (all zeros); nothing to centre")
        centre_of_mass = moments / weight_sum
    return spectrum, centre_of_mass


def _synthesis_matrix(axis: _Axis, positions: np.ndarray, input_voxel: float, low_pass: float,
                      half_spectrum: bool) -> np.ndarray:
    """Matrix (len(positions), n_freq) evaluating the filtered interpolant along one axis.

    ``half_spectrum``: the rFFT axis, frequencies 0..kept, each non-zero one standing for itself
    and its negative (weight 2, real part taken at the end).
    """
    if half_spectrum:
        freqs = np.arange(0, axis.kept + 1)
        weights = np.full(freqs.size, 2.0)
        weights[0] = 1.0
        if 2 * axis.kept == axis.period:
            weights[-1] = 1.0  # the Nyquist bin has no separate negative partner
    else:
        freqs = np.arange(-axis.kept, axis.kept + 1)
        weights = np.ones(freqs.size)
        if 2 * axis.kept == axis.period:
            weights[[0, -1]] = 0.5  # ±Nyquist are one stored bin: split it evenly
    cycles_per_angstrom = freqs / (axis.period * input_voxel)
    gain = np.exp(-math.log(2.0) * (cycles_per_angstrom * low_pass) ** 2)
    matrix = np.exp((2j * np.pi / axis.period) * np.outer(positions, freqs))
    matrix *= weights * gain / axis.period
    # Outside one period centred on the map the interpolant would repeat the map: those output
    # voxels are the zero padding of a box larger than the map.
    middle = (axis.length - 1) / 2.0
    outside = (positions < middle - axis.period / 2.0) | (positions >= middle + axis.period / 2.0)
    matrix[outside] = 0.0
    return matrix


def _evaluate(spectrum: np.ndarray, matrices: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Real volume out[a, b, c] = Re Σ Mz[a,k] My[b,l] Mx[c,m] S[k,l,m], axis by axis."""
    mz, my, mx = (m.astype(np.complex64) for m in matrices)
    kz, ky, kx = spectrum.shape
    along_z = (mz @ spectrum.reshape(kz, ky * kx)).reshape(-1, ky, kx)
    box_z = along_z.shape[0]
    # One matrix product over y (a stacked matmul would make one small BLAS call per z plane,
    # each paying BLAS' thread start-up, which dominates on a busy machine).
    by_y = along_z.transpose(1, 0, 2).reshape(ky, box_z * kx)
    along_zy = (my @ by_y).reshape(-1, box_z, kx).transpose(1, 0, 2)  # (box, box, kx)
    # Re(T · M) = Re T · Re M − Im T · Im M: one real matrix product over interleaved (re, im).
    real_weights = np.empty((2 * kx, mx.shape[0]), dtype=np.float32)
    real_weights[0::2] = mx.real.T
    real_weights[1::2] = -mx.imag.T
    box_y = along_zy.shape[1]
    flat = np.ascontiguousarray(along_zy).view(np.float32).reshape(box_z * box_y, 2 * kx)
    return (flat @ real_weights).reshape(box_z, box_y, mx.shape[0])


def make_template(info: MapInfo, settings: TemplateSettings, workers: int | None = None) -> np.ndarray:
    """The template volume (float32, box³) for the map described by ``info``."""
    workers = workers or os.cpu_count() or 1
    ivs, ovs = settings.input_voxel_size, settings.output_voxel_size
    nz, ny, nx = info.shape
    axes = (
        _Axis.plan(nz, ivs, ovs, real=False),
        _Axis.plan(ny, ivs, ovs, real=False),
        _Axis.plan(nx, ivs, ovs, real=True),
    )
    spectrum, centre_of_mass = _forward_spectrum(info, axes, workers, settings.center)
    centre = (
        centre_of_mass if centre_of_mass is not None else np.array([nz // 2, ny // 2, nx // 2], float)
    )
    offsets = (np.arange(settings.box) - settings.box // 2) * (ovs / ivs)
    matrices = []
    for index, axis in enumerate(axes):
        # Mirroring about the centre voxel (not np.flip, which would move an even box's centre
        # by one voxel): z offsets change sign.
        sign = -1.0 if settings.mirror and index == 0 else 1.0
        matrices.append(_synthesis_matrix(
            axis, centre[index] + sign * offsets, ivs, settings.low_pass, half_spectrum=index == 2,
        ))
    if settings.invert:
        matrices[2] = -matrices[2]
    volume = _evaluate(spectrum, (matrices[0], matrices[1], matrices[2]))
    return np.ascontiguousarray(volume, dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Writing


def write_template(volume: np.ndarray, output: str | os.PathLike[str], voxel_size: float,
                   label: str | None = None) -> None:
    """Write a float32 MRC atomically (temporary file in the same directory, then rename); a
    volume with NaN or infinite values is refused (nothing is written)."""
    if not np.isfinite(volume).all():
        raise InputError(str(output), "not written: the template would hold NaN or infinite values",
                         "finite options (-lp, -ivs, -ovs) and a finite input map")
    with atomic.atomic_path(output) as tmp, mrcfile.new(tmp, overwrite=True) as mrc:
        mrc.set_data(np.asarray(volume, dtype=np.float32))  # also updates the header statistics
        mrc.voxel_size = voxel_size
        if label:
            # MRC labels are 80 printable ASCII characters; a file name may hold others.
            printable = "".join(c if " " <= c <= "~" else "?" for c in label)
            mrc.add_label(printable[:80])
