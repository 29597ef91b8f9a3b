import pytest

from py2rely_plugins.relion5.sta.boxsize import BOX_SIZES, box_for_binning, fft_friendly_at_least


def test_guide_example_gives_84_168_352_and_a_larger_cropped_box_at_bin_1():
    boxes = {b: box_for_binning(290, 1.75, 1.54, b) for b in (4, 2, 1)}
    assert [boxes[b].box for b in (4, 2, 1)] == [84, 168, 352]
    assert boxes[4].extract_box == 84 and boxes[2].extract_box == 168
    assert boxes[1].extract_box == 540  # smallest listed size >= 1.5 × 352
    assert boxes[4].pixel_size == pytest.approx(6.16)


def test_default_box_scaling_gives_96_192_384():
    assert [box_for_binning(290, 2.0, 1.54, b).box for b in (4, 2, 1)] == [96, 192, 384]


def test_list_is_sorted_even_and_unique():
    assert list(BOX_SIZES) == sorted(set(BOX_SIZES))
    assert all(size % 2 == 0 for size in BOX_SIZES)


def test_sizes_above_512_are_7_smooth_and_none_is_missing():
    above = [s for s in BOX_SIZES if s > 512]
    for size in range(514, 2049, 2):
        n = size
        for p in (2, 3, 5, 7):
            while n % p == 0:
                n //= p
        assert (size in above) == (n == 1)


def test_exact_hits_are_kept_and_values_round_up():
    assert fft_friendly_at_least(84) == 84
    assert fft_friendly_at_least(84.0000001) == 96
    assert fft_friendly_at_least(82.4) == 84


def test_too_large_box_is_refused():
    with pytest.raises(ValueError, match="exceeds"):
        fft_friendly_at_least(5000)
