"""How to align particles that come with positions only: forms of the global search, measured
against the simulator's truth, iteration by iteration.

For each form and dataset seed: simulate the demo dataset with `--picks positions`, extract at
bin 4, make the template from the phantom low-passed to 40 Å (as a user would from EMDB), run the
form's RELION job(s), and print for every iteration RELION's changes in orientations and accuracy
(from run_itNNN_optimiser.star / model.star) next to the median and 90th-percentile pose error
against the truth, the iteration's wall time and the machine's load.

    python benchmarks/global_alignment_forms.py --forms refine-global,class3d-k1 --seeds 1,2

Forms (the RELION option changes from the pipeline's first Refine3D):
  refine-global    gold-standard Refine3D, global first pass at the binning's sampling, local
                   once RELION refines the sampling
  refine-coarse    the same with a first pass one HEALPix order coarser
  refine-fast      refine-global with RELION's --auto_ignore_angles --auto_resol_angles: the
                   sampling is refined (and local searches start) as soon as the resolution
                   stalls, whatever the orientations do
  class3d-k1       one-class Class3D without gold standard, the binning's sampling, a fixed
                   --iter (py2rely before issue 14 and py2rely 0.7.1)
  cc-then-local    one global pass of maximum cross-correlation (Class3D K=1, --iter 1,
                   --firstiter_cc) at the binning's sampling, then the pipeline's gold-standard
                   Refine3D with local searches from those poses (the pipeline's pass 1; its
                   further passes follow RELION's changes in orientations: sta/global_search.py)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.truth_runs import (
    DEMO_SIMULATION,
    children_cpu,
    iteration_table,
    load,
    make_project_runner,
    make_template,
    parameters_for,
    simulate_once,
)

FORMS = ("refine-global", "refine-coarse", "refine-fast", "class3d-k1", "cc-then-local")


def run_form(form: str, data: Path, workdir: Path, class3d_iterations: int) -> None:
    from py2rely_plugins.relion5.conventions import ANGULAR_SAMPLINGS, sampling_label
    from py2rely_plugins.relion5.sta.truth import GroundTruth

    project = workdir / f"{data.name}-{form}"
    project.mkdir(parents=True, exist_ok=True)
    params = parameters_for(data, project, [4])
    context = make_project_runner(params, project)
    stage = params.first
    extract = context.run(context.jobs.extract(params.inputs.particles, stage))
    particles = extract.path("particles.star")
    template = make_template(project, data, params)
    started, cpu = time.monotonic(), children_cpu()
    if form.startswith("refine"):
        planned = context.jobs.refine3d(particles, template, stage, params.particle.low_pass,
                                        local_from_start=False)
        if form == "refine-coarse":
            finer = ANGULAR_SAMPLINGS.index(float(stage.refine3d.sampling.split()[0]))
            planned = planned.with_options(sampling=sampling_label(ANGULAR_SAMPLINGS[finer - 1]))
        if form == "refine-fast":
            planned = planned.with_options(auto_faster="Yes")
        else:
            planned = planned.with_options(auto_faster="No")
    elif form == "class3d-k1":
        planned = context.jobs.class3d_alignment(particles, template, stage).with_options(
            nr_iter=str(class3d_iterations), sampling=stage.refine3d.sampling)
    else:
        found = context.run(context.jobs.class3d_alignment(particles, template, stage).with_options(
            nr_iter="1", sampling=stage.refine3d.sampling))
        truth = GroundTruth.beside(params.inputs.particles)
        print(f"\n== {form} on {data.name}: the global pass {found.job_dir}")
        print(iteration_table(project / found.job_dir, truth))
        planned = context.jobs.refine3d(f"{found.job_dir}run_it001_data.star", template, stage,
                                        params.particle.low_pass, local_from_start=True)
    job = context.run(planned)
    wall, cpu = time.monotonic() - started, children_cpu() - cpu
    truth = GroundTruth.beside(params.inputs.particles)
    assert truth is not None
    print(f"\n== {form} on {data.name}: {job.job_dir} ({wall / 60:.1f} min wall, {cpu / 60:.1f} min "
          f"CPU, load {os.getloadavg()[0]:.1f})")
    print(iteration_table(project / job.job_dir, truth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/py2rely-global-forms"))
    parser.add_argument("--forms", default=",".join(FORMS))
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--particles", type=int, default=30, help="per tilt series")
    parser.add_argument("--class3d-iterations", type=int, default=10)
    args = parser.parse_args()
    load()
    args.workdir.mkdir(parents=True, exist_ok=True)
    for seed in (int(s) for s in args.seeds.split(",")):
        options = {**DEMO_SIMULATION, "particles": str(args.particles)}
        data = simulate_once(args.workdir / f"positions-s{seed}", options, "positions", seed)
        for form in args.forms.split(","):
            if form not in FORMS:
                raise SystemExit(f"unknown form {form!r}; one of {', '.join(FORMS)}")
            run_form(form, data, args.workdir, args.class3d_iterations)


if __name__ == "__main__":
    main()
