"""py2rely 0.7.1's documented command lines for `pipelines sta|bin1|polish`, `routines *`,
`export class2star` and `py2rely-slurm routines *` run unchanged against this py2rely (the prepare,
import and export lines are in tests/test_migration_071.py).

Sources (verbatim in /work/notes/ref071-cli.md §4 and Appendix B): 0.7.1's docs (quick-start.md,
3d-subtomogram-averaging.md, running-on-hpc-with-submitit.md, installation.md,
claude-code-mcp.md), the command its `prepare relion5-pipeline` writes into pipeline.sh, and the
command lines its `py2rely-slurm` scripts run. Job-running lines are checked here with
`--dry-run` appended (exit 0, and the jobs 0.7.1 would run, in its order); the RELION runs of the
pipeline and select lines are in tests/test_routines_relion.py. File-writing lines run as written.
Paths into a project (Class3D/job005/...) exist in the test project as the docs name them.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import starfile

from tests.cli_helpers import run_py2rely
from tests.sta_fixtures import prepare, py2rely
from tests.star_fixtures import write_extracted

# (source, command line, the job directories this pipeline plans first, in order). They differ from
# 0.7.1's on purpose where the first search differs (docs/pipelines-sta.md, "The first search"):
# 0.7.1 always ran a one-class Class3D against a template; here picks with angles start the local
# Refine3D from the template, and a de novo map (whose frame the picks' angles know nothing of) is
# followed by the global search passes (Class3D, two in a plan) before the Refine3D.
PIPELINE_LINES = [
    ("quick-start.md:196", "py2rely pipelines sta --parameter sta_parameters.json "
     "--reference-template initial_model.mrc", ["Extract", "Refine3D"]),
    ("quick-start.md:230, 3d-subtomogram-averaging.md:184", "py2rely pipelines sta --parameter "
     "sta_parameters.json --reference-template reference.mrc", ["Extract", "Refine3D"]),
    ("quick-start.md:254, 3d-subtomogram-averaging.md:197", "py2rely pipelines sta --parameter "
     "sta_parameters.json --run-denovo-generation True",
     ["Extract", "InitialModel", "Class3D", "Class3D", "Refine3D"]),
    ("quick-start.md:269", "py2rely pipelines sta --parameter sta_parameters.json --run-class3D True "
     "--class-selection auto", ["Extract", "Reconstruct", "Refine3D", "Select", "MaskCreate", "Class3D"]),
    ("3d-subtomogram-averaging.md:206", "py2rely pipelines sta --parameter sta_parameters.json",
     ["Extract", "Reconstruct", "Refine3D"]),
    ("3d-subtomogram-averaging.md:230", "py2rely pipelines sta --parameter sta_parameters.json "
     "--reference-template reference.mrc --run-class3D True --class-selection auto",
     ["Extract", "Refine3D", "Select", "MaskCreate", "Class3D"]),
    ("installation.md:22", "py2rely pipelines sta --submitit True", ["Extract", "Reconstruct", "Refine3D"]),
    ("running-on-hpc-with-submitit.md:68", "py2rely pipelines sta --parameter sta_parameters.json "
     "--reference-template reference.mrc --submitit True", ["Extract", "Refine3D"]),
    ("running-on-hpc-with-submitit.md:79 (quick-start.md:204 with its quote closed)",
     "py2rely pipelines sta --parameter sta_parameters.json --reference-template reference.mrc "
     "--submitit True --num-gpus 4 --gpu-constraint \"a100|h100\" --cpu-constraint 8,32 --timeout 72",
     ["Extract", "Refine3D"]),
    ("claude-code-mcp.md:259 (0.7.1 rejected the bare --submitit)", "py2rely pipelines sta --parameter "
     "sta_parameters.json --reference-template reference.mrc --submitit --num-gpus 4",
     ["Extract", "Refine3D"]),
    ("pipeline.sh of prepare relion5-parameters (Appendix B)", "py2rely pipelines sta --parameter "
     "sta_parameters.json --run-denovo-generation True --run-class3D True --class-selection manual "
     "--extract3D True --manual-masking True --submitit True --timeout 72 --cpu-constraint 8,32 "
     "--num-gpus 2",
     ["Extract", "InitialModel", "Class3D", "Class3D", "Refine3D", "Select", "MaskCreate", "Class3D"]),
    ("pipeline.sh with -gc", "py2rely pipelines sta --parameter sta_parameters.json --reference-template "
     "reference.mrc --submitit True --timeout 72 --cpu-constraint 8,32 --num-gpus 2 -gc \"a100\"",
     ["Extract", "Refine3D"]),
]

ROUTINE_LINES = [  # the py2rely-slurm scripts' bodies (Appendix B), with this project's files
    ("extract-subtomo.sh", "py2rely routines extract --particles parts.star --binfactor 4 --nthreads 8 "
     "--nprocesses 1 --boxsize 24 --apex True --tomogram tomograms.star", ["Extract"]),
    ("reconstruct-particle.sh", "py2rely routines reconstruct --particles parts.star --binfactor 4 "
     "--symmetry C1 --nthreads 8 --nprocesses 1 --tomograms tomograms.star --boxsize 24 --cropsize 24",
     ["Reconstruct"]),
    ("class3d.sh (NUM_CLASSES=4)", "py2rely routines class3d --parameter sta_parameters.json "
     "--particles Class3D/job005/run_it025_data.star --reference ref.mrc --nr-classes 4 "
     "--ref-correct-greyscale False --tau-fudge 3.0 --tomogram tomograms.star --mask mask.mrc "
     "--ini-high 30.0 --nr-iter 20 --align-particles True", ["Class3D"]),
    ("3d-subtomogram-averaging.md:257", "py2rely routines select --particles "
     "Class3D/job005/run_it025_data.star --classes 1,2,3", ["Select"]),
    ("claude-code-mcp.md:170", "py2rely routines select -p Class2D/job001/run_it025_data.star "
     "-c 3,7,12,18,22,31", ["Select"] * 6 + ["JoinStar"] * 2),
    ("mcp/server.py", "py2rely routines select -p Class3D/job005/run_it025_data.star -c 2", ["Select"]),
]

FILE_LINES = [
    ("3d-subtomogram-averaging.md:264", "py2rely routines select --particles "
     "Class3D/job005/run_it025_data.star --classes 1,2,3 --output selected_particles.star",
     "selected_particles.star"),
    ("quick-start.md:334 (0.7.1 rejected --output)", "py2rely export class2star --parameter "
     "sta_parameters.json --class-job job005 --export-classes 1,2,3 --output input/best_classes.star",
     "input/best_classes.star"),
    ("py2rely-slurm (Appendix B)", "py2rely-slurm routines class3d --particles p.star -r ref.mrc -m mask.mrc "
     "--nr-classes 2,6,2 -align True -rcg False -t tomos.star --ini-high 30 -ni 20", "class3d.sh"),
    ("py2rely-slurm (Appendix B)", "py2rely-slurm routines reconstruct -p parts.star -bf 2 -t tomos.star",
     "reconstruct-particle.sh"),
    ("py2rely-slurm (Appendix B)", "py2rely-slurm routines extract-subtomo -p parts.star -bf 2 -bs 128 "
     "-apex True", "extract-subtomo.sh"),
    ("py2rely-slurm refine3d (0.7.1 always crashed)", "py2rely-slurm routines refine3d -p parts.star "
     "-r ref.mrc -ng 2", "refine3d.sh"),
]

_PLANNED = re.compile(r"^([A-Za-z0-9]+)/job\d+/  ", re.M)


@pytest.fixture(scope="module")
def project(sim_dataset, tmp_path_factory):
    """A project on the CI dataset with 0.7.1's docs' file names in place."""
    root = tmp_path_factory.mktemp("migration") / "project"
    prepare(root, sim_dataset, "4,2,1")
    for name in ("reference.mrc", "initial_model.mrc", "ref.mrc"):
        made = py2rely("prepare", "template", "-i", str(sim_dataset / "ground_truth" / "phantom.mrc"),
                       "-o", name, "-ovs", "10", "-b", "24", cwd=root)
        assert made.returncode == 0, made.stderr
    (root / "tomograms.star").symlink_to(sim_dataset / "tomograms.star")
    (root / "parts.star").symlink_to(sim_dataset / "particles.star")
    from tests.star_fixtures import write_map

    write_map(root / "mask.mrc", 24, 10.0, 1.0)
    write_extracted(root / "Class3D/job005/run_it025_data.star", classes=(1, 2, 3))
    write_extracted(root / "Class2D/job001/run_it025_data.star", classes=(3, 7, 12, 18, 22, 31, 1, 2, 4, 5))
    return root


def words(line: str) -> list[str]:
    return shlex.split(line)[1:]


@pytest.mark.parametrize(("source", "line", "jobs"), PIPELINE_LINES + ROUTINE_LINES,
                         ids=[s for s, _, _ in PIPELINE_LINES + ROUTINE_LINES])
def test_job_running_lines_run_unchanged_and_plan_the_expected_jobs(project, source, line, jobs):
    result = run_py2rely(*words(line), "--dry-run", cwd=project)
    assert result.returncode == 0, (source, result.stderr[-2000:])
    planned = _PLANNED.findall(result.stdout)
    assert planned[:len(jobs)] == jobs, (source, planned)
    if "--submitit" in line:  # SLURM scripts (rendered only: no cluster is used here)
        assert "#SBATCH --partition=gpu" in result.stdout and "#SBATCH --partition=cpu" in result.stdout
        gpus = "2" if "--num-gpus 2" in line else "4"
        assert f"#SBATCH --gres=gpu:{gpus}" in result.stdout
        if "--timeout 72" in line:
            assert "#SBATCH --time=3-00:00:00" in result.stdout and "--mem-per-cpu=32G" in result.stdout
        if "a100" in line:
            assert "#SBATCH --constraint=a100" in result.stdout
        assert "deprecated flag" in result.stderr  # the one-line note naming today's spelling
    assert not (project / "default_pipeline.star").exists()  # a plan writes nothing


@pytest.mark.parametrize(("source", "line", "output"), FILE_LINES, ids=[s for s, _, _ in FILE_LINES])
def test_file_writing_lines_write_what_0_7_1_meant(project, source, line, output):
    args = words(line)
    if line.startswith("py2rely-slurm"):
        code = "from py2rely_plugins.relion5.routines.slurm_scripts import main; main()"
        result = subprocess.run([sys.executable, "-c", code, *args], cwd=project, capture_output=True,
                                text=True, timeout=120, check=False)
    else:
        result = run_py2rely(*args, cwd=project)
    assert result.returncode == 0, (source, result.stderr[-2000:])
    path = project / output
    assert path.is_file(), source
    if output.endswith(".star"):
        kept = starfile.read(path, always_dict=True)["particles"]
        assert set(kept["rlnClassNumber"].astype(int)) == {1, 2, 3}
    else:
        script = path.read_text()
        assert script.startswith("#!/bin/bash\n\n#SBATCH --partition=")
        assert re.search(r"py2rely routines \w+", script), script


# py2rely 0.7.1's Python: $PY2RELY_071_PYTHON, else the venv the benchmarks/ scripts install.
REFERENCE_VENV = Path(os.environ.get("PY2RELY_071_PYTHON") or
                      Path(__file__).resolve().parent.parent / "benchmarks" / ".venv-ref" / "bin" / "python")
LIST_071_OPTIONS = """
import json, sys, click
from py2rely.main import routines, slurm_routines
found = {}
def walk(command, path):
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            walk(sub, path + [name])
    else:
        found[" ".join(path)] = sorted(o for p in command.params for o in p.opts + p.secondary_opts)
walk(routines, ["py2rely"]); walk(slurm_routines, ["py2rely-slurm"])
json.dump(found, sys.stdout)
"""
MY_COMMANDS = ("py2rely pipelines", "py2rely routines", "py2rely export class2star", "py2rely-slurm routines")


@pytest.mark.skipif(not REFERENCE_VENV.exists(), reason="py2rely 0.7.1 is installed by benchmarks/ scripts")
def test_every_0_7_1_option_of_these_commands_is_accepted(tmp_path):
    """Against the installed 0.7.1 itself: each of its pipelines/routines/class2star/py2rely-slurm
    routines commands exists here with every one of its option spellings."""
    import json

    import click

    from py2rely_core.cli import build_cli
    from py2rely_core.cli_lazy import LazyCommand
    from py2rely_core.plugins import get_plugins
    from py2rely_plugins.relion5.routines.slurm_scripts import slurm_root

    listed = subprocess.run([str(REFERENCE_VENV), "-c", LIST_071_OPTIONS], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300, check=True)
    reference = {k: v for k, v in json.loads(listed.stdout).items() if k.startswith(MY_COMMANDS)}
    ours: dict[str, set[str]] = {}

    def walk(command: click.Command, path: list[str]) -> None:
        if isinstance(command, LazyCommand):  # loaded only when used (`py2rely -h` stays light)
            command = command.load()
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])
        else:
            ours[" ".join(path)] = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}

    walk(build_cli(get_plugins()), ["py2rely"])
    walk(slurm_root, ["py2rely-slurm"])
    assert len(reference) == 15
    missing = {k: sorted(set(v) - ours.get(k, set())) for k, v in reference.items()}
    assert {k: v for k, v in missing.items() if v} == {}
