"""py2rely_plugins.relion5.sta.fsc on cases whose answer is known."""

import math

import numpy as np
import pytest

from py2rely_plugins.relion5.sta import fsc as F

BOX = 64
PIXEL = 2.0


def smooth_random_map(seed: int, box: int = BOX) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((box, box, box))


def filtered(volume: np.ndarray, response) -> np.ndarray:
    """Apply a radial Fourier filter ``response(shell_radius_in_voxels)``."""
    box = volume.shape[0]
    k = np.fft.fftfreq(box) * box
    radius = np.sqrt(k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2)
    return np.fft.ifftn(np.fft.fftn(volume) * response(radius)).real


def test_identical_maps_correlate_perfectly_in_every_shell():
    volume = smooth_random_map(1)
    curve = F.fsc(volume, volume, PIXEL)
    assert len(curve.fsc) == BOX // 2 + 1
    np.testing.assert_allclose(curve.fsc, 1.0, atol=1e-12)
    assert curve.resolution_at(0.5) == pytest.approx(2 * PIXEL)  # never crosses: Nyquist
    assert curve.resolution[BOX // 2] == pytest.approx(2 * PIXEL)
    assert curve.resolution[8] == pytest.approx(BOX * PIXEL / 8)


def test_fsc_ignores_scale_and_shows_a_sign_flip():
    volume = smooth_random_map(2)
    np.testing.assert_allclose(F.fsc(volume, 7.5 * volume, PIXEL).fsc, 1.0, atol=1e-12)
    np.testing.assert_allclose(F.fsc(volume, -volume, PIXEL).fsc[1:], -1.0, atol=1e-12)


def test_independent_noise_stays_within_the_expected_spread():
    curve = F.fsc(smooth_random_map(3), smooth_random_map(4), PIXEL)
    shells = slice(2, BOX // 2 + 1)  # shells 0-1 hold too few voxels for a spread
    z = curve.fsc[shells] * np.sqrt(curve.n_voxels[shells])
    # FSC of independent noise ~ N(0, 1/n_voxels): every shell within 3/sqrt(n) here (seeded),
    # and the normalised spread close to one.
    assert np.all(np.abs(z) < 3.0), z
    assert 0.7 < np.sqrt(np.mean(z**2)) < 1.3
    assert abs(np.mean(curve.fsc[shells])) < 0.02


def test_hard_low_pass_copy_crosses_half_at_the_cutoff():
    volume = smooth_random_map(5)
    # Shells 0..12 kept whole, 13.. removed.
    lowpassed = filtered(volume, lambda r: (np.rint(r) <= 12).astype(float))
    curve = F.fsc(volume, lowpassed, PIXEL)
    np.testing.assert_allclose(curve.fsc[1:13], 1.0, atol=1e-9)
    np.testing.assert_allclose(curve.fsc[13:], 0.0, atol=1e-9)
    # Halfway between shells 12 and 13 in frequency.
    expected = BOX * PIXEL / 12.5
    assert curve.resolution_at(0.5) == pytest.approx(expected, rel=1e-9)
    assert curve.resolution_at(0.143) == pytest.approx(BOX * PIXEL / (12 + 0.857), rel=1e-9)


def test_signal_plus_noise_crosses_half_where_signal_power_equals_noise_power():
    # Two maps = the same low-passed signal + independent white noise of equal power. The expected
    # FSC is S(k) / (S(k) + N); with S(k) = A exp(-(k/k0)^2) and N = 1 it crosses 0.5 at
    # k = k0 sqrt(ln A), a frequency we choose.
    rng = np.random.default_rng(6)
    box = 96
    signal_white = rng.standard_normal((box, box, box))
    amplitude_sq, k0 = 400.0, 10.0
    signal = filtered(signal_white, lambda r: np.sqrt(amplitude_sq) * np.exp(-0.5 * (r / k0) ** 2))
    map1 = signal + rng.standard_normal((box, box, box))
    map2 = signal + rng.standard_normal((box, box, box))
    curve = F.fsc(map1, map2, PIXEL)
    crossing_shell = k0 * math.sqrt(math.log(amplitude_sq))  # 24.5
    expected = box * PIXEL / crossing_shell
    assert curve.resolution_at(0.5) == pytest.approx(expected, rel=0.04)
    # FSC 0.143 where S = N / 6: k = k0 sqrt(ln(6A)).
    expected_0143 = box * PIXEL / (k0 * math.sqrt(math.log(amplitude_sq * (1 - 0.143) / 0.143)))
    assert curve.resolution_at(0.143) == pytest.approx(expected_0143, rel=0.04)


def test_resolution_interpolates_linearly_in_frequency():
    values = np.array([1.0, 0.9, 0.7, 0.3, 0.1])
    curve = F.FscCurve(fsc=values, n_voxels=np.ones(5, dtype=int), box=8, pixel_size=1.5)
    # Crossing 0.5 halfway between shells 2 and 3.
    assert curve.resolution_at(0.5) == pytest.approx(8 * 1.5 / 2.5)
    assert curve.value_at(8 * 1.5 / 2.5) == pytest.approx(0.5)
    assert F.resolution_at(F.FscCurve(np.array([0.2, 0.1, 0.0]), np.ones(3, int), 4, 1.0), 0.5) == math.inf


def test_soft_sphere_mask_is_centred_on_box_half():
    mask = F.soft_sphere_mask(32, radius=8, edge=4)
    assert mask[16, 16, 16] == 1.0
    assert mask[16, 16, 24] == 1.0  # radius 8: inside
    assert mask[16, 16, 26] == pytest.approx(0.5 + 0.5 * math.cos(math.pi * 2 / 4))
    assert mask[16, 16, 28] == 0.0
    assert mask[16, 16, 4] == 0.0


def test_fourier_crop_keeps_the_centre_and_the_low_frequencies():
    box = 64
    x = np.arange(box) - box // 2
    r2 = x[:, None, None] ** 2 + x[None, :, None] ** 2 + x[None, None, :] ** 2
    blob = np.exp(-r2 / (2 * 4.0**2))
    small = F.fourier_crop(blob, 32)
    assert small.shape == (32, 32, 32)
    assert np.unravel_index(np.argmax(small), small.shape) == (16, 16, 16)
    assert small.sum() == pytest.approx(blob.sum() / 8, rel=1e-9)  # mean preserved
    # A smooth blob cropped to half the sampling equals the same blob drawn at twice the pixel size.
    xs = np.arange(32) - 16
    r2s = xs[:, None, None] ** 2 + xs[None, :, None] ** 2 + xs[None, None, :] ** 2
    expected = np.exp(-r2s / (2 * 2.0**2))
    np.testing.assert_allclose(small, expected, atol=2e-4 * expected.max())
