"""What a Refine3D's iteration files say (py2rely_plugins.relion5.sta.results): the angular step
of each iteration, when local searches began, and why a refinement stopped at its cap."""

from __future__ import annotations

from pathlib import Path

from py2rely_plugins.relion5.sta import results

SAMPLING = """
data_sampling_general

_rlnIs3DSampling                                    1
_rlnHealpixOrder                                    {order}
_rlnPsiStep                                 30.000000
"""

OPTIMISER = """
data_optimiser_general

_rlnCurrentIteration                                             {iteration}
_rlnAutoLocalSearchesHealpixOrder                                2
_rlnChangesOptimalOrientations                          {changes}
"""


def write_iterations(job: Path, orders: list[int]) -> None:
    job.mkdir(parents=True)
    for iteration, order in enumerate(orders):
        (job / f"run_it{iteration:03d}_sampling.star").write_text(SAMPLING.format(order=order))
        (job / f"run_it{iteration:03d}_optimiser.star").write_text(
            OPTIMISER.format(iteration=iteration, changes=10.0 / (iteration + 1)))


def test_steps_and_the_first_local_iteration_come_from_the_iteration_files(tmp_path):
    write_iterations(tmp_path / "Refine3D" / "job003", [1, 1, 1, 1, 2, 2, 2])
    rows = results.refine_iterations("Refine3D/job003/", tmp_path)
    # Iteration 0 is the start, not an iteration; HEALPix order 1 with oversampling 1 is 15°.
    assert [row[0] for row in rows] == [1, 2, 3, 4, 5, 6]
    assert [row[2] for row in rows] == [15.0, 15.0, 15.0, 7.5, 7.5, 7.5]
    assert results.first_local_iteration("Refine3D/job003/", tmp_path) == 4
    assert results.last_iteration("Refine3D/job003/", tmp_path) == 6


def test_a_refinement_at_its_iteration_cap_fails_with_that_reason(tmp_path):
    write_iterations(tmp_path / "Refine3D" / "job003", [2] * 26)
    failure = "Refine3D/job003/ failed: it reported success but did not write Refine3D/job003/run_data.star"
    explained = results.explain_refine_failure(failure, tmp_path, "--min_sigma2_offset 10 --auto_iter_max 25")
    assert explained.startswith("Refine3D/job003/ stopped at its iteration cap (25 iterations, "
                                "refine3d.max_iterations)") and explained.endswith(failure)
    # Below the cap, or without one, the failure is RELION's own and is left as it is.
    assert results.explain_refine_failure(failure, tmp_path, "--auto_iter_max 30") == failure
    assert results.explain_refine_failure(failure, tmp_path, "") == failure
