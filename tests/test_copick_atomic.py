"""Pick files are replaced atomically: an interrupted write leaves the previous file intact."""

import os
import stat

import copick
import numpy as np
import pytest

from py2rely_plugins.copick import atomic_picks
from py2rely_plugins.copick.atomic_picks import replace_file_atomically, write_picks
from tests.copick_fixtures import OBJECT, make_project, random_picks
from tests.copick_fixtures import write_picks as write_picks_with_copick


def test_interrupted_replacement_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "Picks" / "relion_99_thing.json"
    replace_file_atomically(target, '{"old": true}')

    def crash(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(atomic_picks.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        replace_file_atomically(target, '{"new": true}')
    assert target.read_text() == '{"old": true}'
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path):
    target = tmp_path / "picks.json"
    replace_file_atomically(target, "{}")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    target.chmod(0o640)
    replace_file_atomically(target, "[]")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_text() == "[]"


def test_a_failed_export_of_a_run_leaves_its_old_picks_readable(tmp_path, monkeypatch):
    config = make_project(tmp_path / "project", ("TS_001",))
    old = random_picks("TS_001", 5, seed=1)
    path = write_picks_with_copick(config, old, "relion", "99")
    before = path.read_bytes()
    run = copick.from_file(str(config)).get_run("TS_001")
    new = random_picks("TS_001", 7, seed=2)
    transforms = np.tile(np.eye(4), (7, 1, 1))

    def crash(source, destination):
        raise OSError("interrupted")

    monkeypatch.setattr(atomic_picks.os, "replace", crash)
    with pytest.raises(OSError):
        write_picks(run, OBJECT, "relion", "99", new.positions, transforms)
    assert path.read_bytes() == before
    picks = copick.from_file(str(config)).get_run("TS_001").get_picks(user_id="relion")
    assert len(picks) == 1 and len(picks[0].points) == 5
