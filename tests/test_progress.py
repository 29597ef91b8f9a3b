"""Progress that moves: one live bar on a terminal, plain lines at a bounded rate elsewhere, fed
from real RELION output (a run.out of the session's demo project, the debootstrap log of the
embedded runtime's installation)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from py2rely_core.progress import ProgressTask
from py2rely_core.run_progress import RunOutFollower, RunProgress
from py2rely_plugins.relion5.runtime import DebootstrapProgress

FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Lines as relion_refine 5.1 writes them in run.out (the bar is redrawn with carriage returns).
REFINE_OUT = (
    " Auto-refine: Iteration= 3\n"
    " Auto-refine: Resolution= 26.6667 (no gain for 0 iter) \n"
    " Expectation iteration 3\n"
    "000/??? sec ~~(,_,\">                                                          [oo]\r"
    "   1/   5 sec ..........~~(,_,\">                                              [oo]\r"
    "   2/   6 sec ..................~~(,_,\">                                       [oo]"
)
CLASS3D_OUT = " Expectation iteration 4 of 25\n   1.2/   3.5 min ..........~~(,_,\">   [oo]"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_refine_output_gives_iteration_resolution_and_step_eta():
    progress = RunProgress()
    progress.feed(REFINE_OUT)
    assert (progress.iteration, progress.resolution) == (3, 26.6667)
    assert (progress.step_done, progress.step_total, progress.eta) == (2.0, 6.0, 4.0)
    assert progress.fields() == {"iteration": "3", "resolution": "26.7 Å", "eta": "0:04"}
    assert progress.fraction() == pytest.approx(2 / 6)


def test_a_fixed_number_of_iterations_gives_the_whole_job_fraction():
    progress = RunProgress()
    progress.feed(CLASS3D_OUT)
    assert (progress.iteration, progress.iterations) == (4, 25)
    assert progress.eta == pytest.approx(2.3 * 60)
    assert progress.fraction() == pytest.approx((3 + 1.2 / 3.5) / 25)


def test_the_follower_reads_only_what_was_appended(tmp_path):
    run_out = tmp_path / "run.out"
    run_out.write_text(" Auto-refine: Iteration= 1\n")
    follower = RunOutFollower(run_out)
    assert follower.poll() and follower.progress.iteration == 1
    assert not follower.poll()  # nothing new
    with open(run_out, "a") as handle:
        handle.write(" Auto-refine: Iteration= 2\n Auto-refine: Resolution= 40 (no gain)\n")
    assert follower.poll() and (follower.progress.iteration, follower.progress.resolution) == (2, 40.0)


def test_off_a_terminal_lines_come_at_a_bounded_rate():
    lines: list[tuple[str, dict]] = []
    clock = Clock()
    task = ProgressTask("Refine3D/job003/ refine3d", display="plain", min_interval=30.0, clock=clock,
                        emit=lambda message, fields: lines.append((message, fields)))
    for second in range(300):  # an update every second for 5 minutes
        clock.now = float(second)
        task.update(iteration=str(1 + second // 20))
    task.close()
    assert 8 <= len(lines) <= 11  # one per 30 s, never one per update
    assert lines[0] == ("Refine3D/job003/ refine3d", {"iteration": "1"})
    task = ProgressTask("quiet", display="plain", min_interval=0.0, clock=clock,
                        emit=lambda message, fields: lines.append((message, fields)))
    before = len(lines)
    task.update(iteration="7")
    task.update(iteration="7")  # unchanged: no second line
    assert len(lines) == before + 1


def test_on_a_terminal_it_is_one_bar_that_updates_in_place():
    from rich.console import Console

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    task = ProgressTask("simulating tilt images", total=82, display="live", console=console)
    for done in range(1, 83):
        task.update(completed=done)
    task.close()
    text = screen.getvalue()
    assert "simulating tilt images" in text and "\x1b[" in text  # redrawn with cursor control
    assert text.count("\n") < 10  # not one line per update


def test_the_installation_log_becomes_one_bar_of_all_packages():
    updates: list[tuple[float, float | None, str]] = []

    class Recorder:
        def update(self, completed=None, total=None, description=None, **fields):
            updates.append((completed, total, description))

    progress = DebootstrapProgress(Recorder())
    lines = (FIXTURES / "debootstrap-sid.log").read_text().splitlines()
    for line in lines:
        progress.feed(line)
    progress.finish()
    packages = sum(1 for line in lines if line.startswith("I: Retrieving") and len(line.split()) == 4)
    assert progress.retrieved == packages and packages > 150  # relion, openmpi and their deps
    assert updates[-1][:2] == (2 * packages, 2 * packages)
    assert {u[2] for u in updates if u[2]} == {"downloading Debian sid packages", "installing the packages"}
    completed = [u[0] for u in updates if u[2] == "installing the packages"]
    assert completed == sorted(completed)  # the bar only moves forward


def test_json_logs_stay_json_lines_with_progress(tmp_path):
    """`simulate` with --log-format json off a terminal: every stderr line is a JSON object."""
    run = subprocess.run(
        [sys.executable, "-c", "from py2rely_core.cli import main; main()", "--log-format", "json",
         "simulate", "-o", str(tmp_path / "data"), "--tilt-series", "1", "--particles", "3",
         "--tilt-range", "30", "--tilt-step", "15", "--image-size", "256", "--seed", "3"],
        capture_output=True, text=True, timeout=300, check=False,
        env={"PY2RELY_PROGRESS_INTERVAL": "0", "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in run.stderr.splitlines() if line.strip()]
    assert any(r["event"] == "simulating tilt images" and "done" in r for r in records), records
    assert records[-1]["event"] == "tilt series written"


@pytest.mark.relion
def test_a_real_refinement_log_reads_back_its_last_iteration_and_resolution(demo_project):
    run_out = next((demo_project.project / "Refine3D").glob("job*/run.out"))
    follower = RunOutFollower(run_out)
    assert follower.poll()
    text = run_out.read_text(errors="replace")
    assert follower.progress.iteration == text.count("Auto-refine: Iteration=")
    last = text.rsplit("Auto-refine: Resolution=", 1)[1].split()[0]
    assert follower.progress.resolution == float(last)
