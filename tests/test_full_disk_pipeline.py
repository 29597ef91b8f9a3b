"""The disk fills while a RELION job runs: the driver stops with one line naming the file it could
not write (exit code 7, no traceback), and once space is freed the rerun continues, running the
job again instead of reusing what it wrote to the full disk.

Real RELION (relion_mask_create on a 32³ map, about a second) in a project on a 4 MB tmpfs (root
only). The job's own set-up line fills the disk once the job has started, so the job ends on a
full disk exactly as a job that filled it itself would.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import mrcfile
import pytest

from py2rely_core.errors import FileSystemError
from py2rely_core.interfaces import PlannedJob
from py2rely_core.plugins import get_plugins
from py2rely_core.project import Project
from py2rely_core.relion_files import read_pipeline
from py2rely_core.runner import JobRunner
from py2rely_plugins.executors.local import PROCESS_FILE, LocalExecutor
from tests.fault_matrix_fixtures import FILLER, is_root, tmpfs
from tests.runner_helpers import MASK_OPTIONS, write_map

pytestmark = [pytest.mark.relion,
              pytest.mark.skipif(not is_root(), reason="mounting a tmpfs needs root")]

# Waits until the driver has recorded the job's process (so the job is the driver's to follow),
# then fills the file system: RELION then writes its outputs to a full disk.
FILL_DISK = (f'd=$(dirname "$0"); while [ ! -s "$d/{PROCESS_FILE}" ]; do sleep 0.05; done; '
             f"head -c 100M /dev/zero > {FILLER} 2>/dev/null || true")


def runner(project: Path, setup_lines: list[str]) -> JobRunner:
    plugins = get_plugins()
    return JobRunner(Project(project), LocalExecutor(), plugins.registry("job_types"), plugins.hook,
                     setup_lines=setup_lines, echo=lambda line: None)


def test_a_full_disk_stops_the_driver_in_one_line_and_the_rerun_continues(tmp_path, relion_runtime):
    mask = PlannedJob("relion.maskcreate", MASK_OPTIONS, stage="mask")
    with tmpfs(tmp_path / "project", size="4m") as project:
        write_map(project / "map.mrc")
        with pytest.raises(OSError) as raised:
            runner(project, [*relion_runtime.job_setup_lines(), FILL_DISK]).run(mask)
        assert raised.value.errno == errno.ENOSPC
        assert raised.value.filename == str(project / "MaskCreate/job001/py2rely_job.json")
        message = str(FileSystemError.from_os_error(raised.value))
        assert message == (f"{project}/MaskCreate/job001/py2rely_job.json: No space left on device "
                           "(ENOSPC); free space and run the command again")
        assert not [p.name for p in (project / "MaskCreate/job001").iterdir() if p.name.startswith(".")]

        os.remove(project / FILLER)  # space is freed
        result = runner(project, relion_runtime.job_setup_lines()).run(mask)
        # The job that ran on the full disk left an empty mask.mrc: it runs again.
        assert (result.job_dir, result.status, result.reused) == ("MaskCreate/job002/", "Succeeded", False)
        with mrcfile.open(project / "MaskCreate/job002/mask.mrc") as mrc:
            assert mrc.data.shape == (32, 32, 32) and float(mrc.data.max()) == pytest.approx(1.0)
        statuses = {p.name: p.status for p in read_pipeline(project / "default_pipeline.star").processes}
        assert statuses["MaskCreate/job002/"] == "Succeeded"
