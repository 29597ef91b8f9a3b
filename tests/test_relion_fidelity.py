"""Every job.star py2rely writes makes RELION's own pipeliner run exactly py2rely's command.

Each job.star the STA pipeline can write (tests/fidelity_jobs.py: ~100 distinct ones from the
dry-run plans of every strategy, Auto-Class3D with each selector, the bin-1 rounds and option
variants, plus options no plan reaches) goes to RELION 5.1's `relion_pipeliner --addJobFromStar`
and `--RunJobs` with stub programs (tests/relion_pipeliner.py). RELION's argv must equal
py2rely's after normalising number formatting only (`48` vs `48.0`); its declared nodes must
equal py2rely's; it must print no warning about the job.star; and no program may get an option
twice (RELION's programs warn and use the last). The differences allowed are
listed in ALLOWED, each with its reason. Nothing heavy runs (about 2 s of pipeliner per job,
run in parallel).
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from py2rely_plugins.relion5 import runtime as rt
from tests.fidelity_jobs import Case, all_cases
from tests.fixtures.relion_job_options.regenerate import JOB_TYPES
from tests.relion_pipeliner import Pipeliner, PipelinerRun

pytestmark = pytest.mark.relion

WORKERS = 8  # pipeliner runs at once: each mostly waits (RunJobs polls once a second)


def _initial_model_markers(case: Case, run: PipelinerRun) -> bool:
    return run.shell_commands == [f"rm -f {case.job_dir}RELION_JOB_EXIT_SUCCESS",
                                  f"touch {case.job_dir}RELION_JOB_EXIT_SUCCESS"]


# The differences allowed between RELION's job and py2rely's, each with its reason.
ALLOWED = {
    # RELION's InitialModel job removes the success marker the first program writes and touches it
    # after the last; py2rely's job script does the same bookkeeping for every multi-command job
    # (py2rely_core/script.py), so py2rely's command list has no shell commands.
    "exit-marker bookkeeping": _initial_model_markers,
}
# RELION's CtfRefine job writes --per_tomo_scale, which relion_tomo_refine_ctf (5.0 and 5.1)
# does not know (it prints a warning and fits no per-tomogram scale); py2rely writes the
# program's --per_tomogram_scale.
FLAG_RENAMES = {("relion_tomo_refine_ctf", "--per_tomo_scale"): "--per_tomogram_scale"}


def same_word(ours: str, relions: str) -> bool:
    """Equal, or the same number written differently (48 vs 48.0)."""
    if ours == relions:
        return True
    try:
        return float(ours) == float(relions)
    except ValueError:
        return False


def relion_argv_renamed(argv: list[list[str]]) -> tuple[list[list[str]], list[str]]:
    """RELION's argv with the flags of FLAG_RENAMES replaced; which replacements were made."""
    out, renamed = [], []
    for words in argv:
        program = next((w.removesuffix("_mpi") for w in words if w.startswith("relion_")), "")
        new = []
        for word in words:
            replacement = FLAG_RENAMES.get((program, word))
            if replacement:
                renamed.append(f"{word} -> {replacement}")
            new.append(replacement or word)
        out.append(new)
    return out, renamed


def differences(case: Case, run: PipelinerRun) -> tuple[list[str], list[str]]:
    """(differences that fail the test, allowed differences that occurred)."""
    failures, allowed = [], []
    if run.error:
        return [f"oracle: {run.error}"], allowed
    if run.job_dir != case.job_dir:
        failures.append(f"RELION chose {run.job_dir}, not {case.job_dir}")
    if run.warnings:
        failures.append(f"pipeliner warnings: {run.warnings}")
    relion, renamed = relion_argv_renamed(run.argv)
    allowed += [f"flag {r}" for r in renamed]
    if len(relion) != len(case.argv) or any(
            len(a) != len(b) or not all(same_word(x, y) for x, y in zip(a, b, strict=True))
            for a, b in zip(case.argv, relion, strict=False)):
        failures.append(f"argv differ:\n  ours:   {case.argv}\n  RELION: {run.argv}")
    for words in case.argv:  # relion programs warn about a repeated option and use the last
        flags = [w for w in words if w.startswith("--")]
        repeated = sorted({f for f in flags if flags.count(f) > 1})
        if repeated:
            failures.append(f"{words[0]} gets {repeated} more than once")
    if run.shell_commands:
        names = [name for name, rule in ALLOWED.items() if rule(case, run)]
        if names:
            allowed += names
        else:
            failures.append(f"RELION's job also runs {run.shell_commands}")
    if run.input_nodes != case.input_nodes:
        failures.append(f"input nodes differ: ours {case.input_nodes}, RELION {run.input_nodes}")
    if run.output_nodes != case.output_nodes:
        failures.append(f"output nodes differ: ours {case.output_nodes}, RELION {run.output_nodes}")
    return failures, allowed


@pytest.fixture(scope="module")
def pipeliner(relion_runtime, tmp_path_factory) -> Pipeliner:
    version = rt.version_or_error(relion_runtime)
    if not version.startswith("5.1"):
        pytest.skip(f"these checks are for RELION 5.1; found {version}")
    return Pipeliner(relion_runtime, tmp_path_factory.mktemp("pipeliner"))


def test_relion_runs_exactly_py2relys_command_for_every_job_star(pipeliner, tmp_path):
    cases = all_cases("5.1")
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        runs = list(pool.map(lambda case: pipeliner.run_job(case.job_star(), case.job_dir), cases))
    elapsed = time.monotonic() - started
    report, failed, allowed_counts = [], [], {}
    for case, run in zip(cases, runs, strict=True):
        failures, allowed = differences(case, run)
        for name in allowed:
            allowed_counts[name] = allowed_counts.get(name, 0) + 1
        report.append({"case": case.name, "identical": not failures and not allowed,
                       "allowed": allowed, "failures": failures})
        if failures:
            failed.append(f"{case.name}: " + "\n    ".join(failures))
    identical = sum(entry["identical"] for entry in report)
    summary = {"jobs": len(cases), "identical": identical, "allowed": allowed_counts,
               "failed": len(failed), "seconds": round(elapsed, 1), "workers": WORKERS,
               "load": os.getloadavg()[0]}
    (tmp_path / "fidelity.json").write_text(json.dumps({"summary": summary, "jobs": report}, indent=1))
    print(f"\nRELION fidelity: {summary}")
    assert not failed, f"{len(failed)} of {len(cases)} job.star files:\n" + "\n".join(failed)


def test_the_committed_relion_5_1_option_tables_are_relions(pipeliner):
    committed = json.loads((Path(__file__).parent / "fixtures" / "relion_job_options" / "relion-5.1.json")
                           .read_text(encoding="utf-8"))["job_types"]
    for label, (_, _, _, is_tomo) in JOB_TYPES.items():
        assert pipeliner.option_table(label, is_tomo) == committed[label]["options"], label
