"""The de novo hand check (sta/hand.py): a map of known hand decides, after the best rotation and
shift of it and of its mirror image, whether the de novo map is kept or replaced by its mirror
image; a map without handedness decides nothing."""

from __future__ import annotations

import json
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from py2rely_plugins.relion5.sta.hand import RECORD, check_hand, flipped_name, settle_hand
from py2rely_plugins.relion5.sta.truth import mirrored, transformed
from py2rely_plugins.simulate.phantom import build_phantom

BOX, PIXEL, DIAMETER = 24, 10.0, 160.0
FLIPPED_MAP = flipped_name("initial_model.mrc")


def write(path: Path, volume: np.ndarray) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(volume.astype(np.float32))
        mrc.voxel_size = PIXEL
    return path


@pytest.fixture(scope="module")
def phantom() -> np.ndarray:
    return build_phantom(BOX, PIXEL, DIAMETER, ("C", 1), resolution=40.0)


@pytest.fixture
def reference(tmp_path, phantom) -> Path:
    return write(tmp_path / "reference.mrc", phantom)


def de_novo_like(volume: np.ndarray) -> np.ndarray:
    """A de novo map's frame is arbitrary: the map turned and moved, with noise."""
    turned = transformed(volume, Rotation.from_euler("zyz", [70, 40, -110], degrees=True),
                         np.array([1.0, -1.0, 0.5]), order=3)
    return turned + np.random.default_rng(3).normal(0, 0.05 * volume.std(), volume.shape)


def test_a_map_of_the_right_hand_is_kept(tmp_path, phantom, reference):
    job = tmp_path / "InitialModel" / "job002"
    job.mkdir(parents=True)
    write(job / "initial_model.mrc", de_novo_like(phantom))
    chosen, check = settle_hand(job, "initial_model.mrc", reference, DIAMETER, "reference.mrc")
    assert chosen == "initial_model.mrc" and not check.flip and check.decided
    assert check.correlation > 0.9 and check.correlation - check.mirror_correlation > 0.05
    assert not (job / FLIPPED_MAP).exists()
    record = json.loads((job / RECORD).read_text())
    assert record["mirror_hand"] is False and record["reference"] == "reference.mrc"
    assert check.summary().startswith("hand of reference.mrc (correlation 0.9")


def test_a_map_of_the_wrong_hand_is_replaced_by_its_mirror_image(tmp_path, phantom, reference):
    job = tmp_path / "InitialModel" / "job002"
    job.mkdir(parents=True)
    write(job / "initial_model.mrc", de_novo_like(mirrored(phantom)))
    chosen, check = settle_hand(job, "initial_model.mrc", reference, DIAMETER, "reference.mrc")
    assert chosen == FLIPPED_MAP and check.flip
    assert check.mirror_correlation > 0.9 and check.summary().startswith("mirror hand of reference.mrc")
    assert json.loads((job / RECORD).read_text())["mirror_hand"] is True
    # The mirror image written has the reference's hand and the de novo map's header pixel.
    with mrcfile.open(job / FLIPPED_MAP) as mrc:
        assert float(mrc.voxel_size.x) == pytest.approx(PIXEL) and mrc.data.shape == (BOX,) * 3
    again = check_hand(job / FLIPPED_MAP, reference, DIAMETER, "reference.mrc")
    assert not again.flip and again.correlation == pytest.approx(check.mirror_correlation, abs=0.01)
    # The de novo map itself is untouched (RELION's output).
    with mrcfile.open(job / "initial_model.mrc") as mrc:
        assert np.allclose(mrc.data, de_novo_like(mirrored(phantom)), atol=1e-5)


def test_a_map_without_handedness_decides_nothing(tmp_path, reference):
    offsets = np.arange(BOX) - BOX // 2
    r = np.sqrt(offsets[:, None, None] ** 2 + offsets[None, :, None] ** 2 + offsets[None, None, :] ** 2)
    ball = (r < 6).astype(np.float32)  # a sphere is its own mirror image
    job = tmp_path / "job"
    job.mkdir()
    write(job / "initial_model.mrc", ball)
    chosen, check = settle_hand(job, "initial_model.mrc", reference, DIAMETER, "reference.mrc")
    assert chosen == "initial_model.mrc" and not check.decided and not check.flip
    assert check.summary().startswith("hand undetermined against reference.mrc")


def test_a_final_map_on_a_finer_grid_is_checked_on_the_reference_grid(tmp_path, phantom, reference):
    """The hand reference is at the first binning (10 Å/px here), the final map at the last
    (5 Å/px, twice the box): the map is brought to the reference's grid."""
    fine = build_phantom(2 * BOX, PIXEL / 2, DIAMETER, ("C", 1), resolution=40.0, mirror=True)
    job = tmp_path / "PostProcess" / "job009"
    job.mkdir(parents=True)
    with mrcfile.new(job / "postprocess.mrc") as mrc:
        mrc.set_data(fine)
        mrc.voxel_size = PIXEL / 2
    chosen, check = settle_hand(job, "postprocess.mrc", reference, DIAMETER, "reference.mrc")
    assert check.flip and chosen == "postprocess_hand_flipped.mrc"
    with mrcfile.open(job / chosen) as mrc:  # the mirror image keeps the final map's grid
        assert mrc.data.shape == (2 * BOX,) * 3 and float(mrc.voxel_size.x) == pytest.approx(PIXEL / 2)
    assert not check_hand(job / chosen, reference, DIAMETER, "reference.mrc").flip
