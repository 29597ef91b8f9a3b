"""rlnTomoHand for AreTomo alignments: the sign of the defocus change with depth.

RELION: ``defocus(point) = defocus + rlnTomoHand × pixel × depth``, depth = third row of the
projection (src/jaz/tomography/tomogram.cpp, ``getCtf`` / ``getDepthOffset``). With rlnTomoZRot =
ROT and rlnTomoYTilt = TILT, depth = −u·tan(TILT) for a point at image coordinate u across the
tilt axis. AreTomo3 models a tile's defocus as ``defocus + ΔZ × pixel × dfHand`` with
``ΔZ = −(x cos ROT + y sin ROT)·tan(TILT)`` (AreTomo/FindCtf/CGenAvgSpectrum.cpp and
CTiltInducedZ.cpp): the same formula, so AreTomo3's dfHand *is* rlnTomoHand.

``--hand auto`` therefore means:

* AreTomo3 ≥ 2.0 (its _CTF.txt has the dfHand column): **+1**. AreTomo3 measures the hand
  (FindCtf/CRefineCtfMain.cpp ``mFindHandedness``) and, when it finds −1, turns the tilt axis by
  180° so that its output is positive-handed (CAreTomoMain.cpp after ``mFindCtf(true)``; Readme
  2.0.5). The column keeps the measured value, so −1 there usually means "axis turned"; only with
  ``-TiltAxis <angle> -1`` (no axis refinement) is the axis left alone — a warning says so.
* AreTomo2 (no dfHand column; it does not measure the hand): **−1**, RELION's own default for
  imported tilt series (Import job option ``flip_tiltseries_hand`` Yes →
  ``--invert-defocus-handedness`` → ``rlnTomoHand = -1`` in import_tilt_series/serialem.py), and
  the value py2rely 0.7.1 always wrote. It is a convention, not a measurement: a warning says so.
"""

from __future__ import annotations

import numpy as np

from py2rely_plugins.aretomo.ctf import CtfFits


def choose(option: str, fits: CtfFits, rows: np.ndarray) -> tuple[int, str, bool]:
    """(rlnTomoHand, why, whether the user should check it) for one tilt series."""
    if option != "auto":
        return int(option), "--hand", False
    if fits.hand is None:
        return -1, ("no dfHand column in _CTF.txt (AreTomo2): RELION's import default -1, a "
                    "convention, not a measurement; check the hand and pass --hand"), True
    measured = sorted(set(fits.hand[rows].tolist()))
    if measured == [1]:
        return 1, "AreTomo3 dfHand +1", False
    return 1, ("AreTomo3 measured dfHand -1 and turns the tilt axis by 180° to make its output +1; "
               "if it ran with -TiltAxis <angle> -1 (no axis refinement) it did not: pass --hand -1"), True
