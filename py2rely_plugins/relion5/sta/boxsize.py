"""Box sizes: one list of FFT-friendly even sizes, and the box per binning derived from it.

``BOX_SIZES`` is EMAN2's table of efficient box sizes (``good_box_sizes`` in EMAN2's
``EMAN2.py``; up to 512 each entry was chosen from measured FFTW timings, which is why it holds
some sizes with a factor 11 or 13 and skips some 2·3·5 sizes that were slow), continued above 512
with every even 7-smooth number, as EMAN2's own list is. The sizes up to 512 are kept verbatim
rather than recomputed because they are measurements, not a formula.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

_MEASURED = (
    16, 24, 32, 36, 40, 44, 48, 52, 56, 60, 64, 72, 84, 96, 100, 104, 112, 120, 128, 132, 140,
    168, 180, 192, 196, 208, 216, 220, 224, 240, 256, 260, 288, 300, 320, 352, 360, 384, 416,
    440, 448, 480, 512,
)
MAX_BOX = 2048


def _is_7_smooth(n: int) -> bool:
    for prime in (2, 3, 5, 7):
        while n % prime == 0:
            n //= prime
    return n == 1


BOX_SIZES: tuple[int, ...] = _MEASURED + tuple(
    n for n in range(514, MAX_BOX + 1, 2) if _is_7_smooth(n)
)

# At bin 1, pseudo-subtomograms are extracted in a box this much larger than the final box and
# cropped back, so that the CTF's delocalised signal is not cut off (RELION's --b/--crop).
BIN1_EXTRACTION_FACTOR = 1.5


def fft_friendly_at_least(size: float) -> int:
    """The smallest size in BOX_SIZES that is >= ``size``."""
    index = bisect.bisect_left(BOX_SIZES, math.ceil(size - 1e-9))
    if index == len(BOX_SIZES):
        raise ValueError(f"a box of {size:.0f} px exceeds the largest supported box ({MAX_BOX})")
    return BOX_SIZES[index]


@dataclass(frozen=True)
class BinningBox:
    binning: int
    pixel_size: float  # Å per pixel at this binning
    box: int  # the particle box at this binning (RELION's crop size when extract_box differs)
    extract_box: int  # the box extracted before cropping to ``box``

    @property
    def cropped(self) -> bool:
        return self.extract_box != self.box


def box_for_binning(
    diameter: float, box_scaling: float, tilt_series_pixel_size: float, binning: int
) -> BinningBox:
    """Box (px) holding ``box_scaling`` × the particle diameter at ``binning``."""
    pixel_size = tilt_series_pixel_size * binning
    box = fft_friendly_at_least(box_scaling * diameter / pixel_size)
    extract_box = box
    if binning == 1:
        extract_box = fft_friendly_at_least(BIN1_EXTRACTION_FACTOR * box)
    return BinningBox(binning=binning, pixel_size=pixel_size, box=box, extract_box=extract_box)
