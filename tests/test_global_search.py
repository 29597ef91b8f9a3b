"""When the global search of positions-only picks stops (sta/global_search.py): RELION's changes
in orientations of each pass after the first decide, with a cap; the dry-run plan shows two
passes and the first Refine3D reading the first pass's poses."""

from __future__ import annotations

from py2rely_plugins.relion5.jobtypes import labels
from py2rely_plugins.relion5.sta.global_search import verdict
from tests.fidelity_jobs import PlanVariant, demo_parameters, plan_cases


def test_one_pass_says_nothing_until_the_cap():
    # Pass 1's changes are measured from the picks' zero angles.
    assert not verdict([93.2], step=15, max_passes=3).stop
    one = verdict([93.2], step=15, max_passes=1)
    assert one.stop and one.keep == 1 and "cap of 1" in one.reason


def test_a_second_pass_within_the_step_confirms_the_first():
    # Measured: the second pass of a one-class Class3D moved the poses by 13° at a 15° step.
    result = verdict([93.2, 13.0], step=15, max_passes=3)
    assert result.stop and result.keep == 1 and "pass 1 had found them" in result.reason


def test_passes_go_on_while_the_changes_fall_and_stop_when_they_grow():
    assert not verdict([93.2, 40.0], step=15, max_passes=4).stop
    assert not verdict([93.2, 40.0, 25.0], step=15, max_passes=4).stop
    grew = verdict([93.2, 22.0, 31.0], step=15, max_passes=4)
    assert grew.stop and grew.keep == 2 and "no longer improves" in grew.reason


def test_the_cap_keeps_the_last_pass():
    capped = verdict([93.2, 40.0, 25.0], step=15, max_passes=3)
    assert capped.stop and capped.keep == 3


def test_unreadable_changes_run_to_the_cap():
    assert not verdict([None, None], step=15, max_passes=3).stop
    assert verdict([None, None, None], step=15, max_passes=3).keep == 3


def test_the_plan_for_positions_only_searches_twice_then_refines_the_first_pass_locally():
    cases = plan_cases(PlanVariant("reference", lambda: demo_parameters([4, 2]), strategy="reference",
                                   picks="positions"), "5.1")
    searches = [c for c in cases if c.type_label == labels.CLASS3D]
    assert [c.job_dir for c in searches] == ["Class3D/job002/", "Class3D/job003/"]
    first, second = (c.options for c in searches)
    assert first["fn_ref"] == "reference.mrc" and first["ref_correct_greyscale"] == "No"  # CC first
    assert "--firstiter_cc" in first_argv(searches[0])
    assert second["fn_ref"] == "Class3D/job002/run_it001_class001.mrc"
    assert second["in_particles"] == "Class3D/job002/run_it001_data.star"
    assert second["ref_correct_greyscale"] == "Yes" and "--firstiter_cc" not in first_argv(searches[1])
    refine = next(c for c in cases if c.type_label == labels.REFINE3D)
    assert refine.options["in_particles"] == "Class3D/job002/run_it001_data.star"
    assert refine.options["fn_ref"] == "reference.mrc"
    assert refine.options["sampling"] == refine.options["auto_local_sampling"]
    other = refine.options["other_args"]
    assert "--sigma_ang" in other and "--auto_iter_max 25" in other


def test_picks_with_angles_plan_no_global_search():
    cases = plan_cases(PlanVariant("reference-angles", lambda: demo_parameters([4]), strategy="reference"),
                       "5.1")
    assert not [c for c in cases if c.type_label == labels.CLASS3D]


def first_argv(case) -> list[str]:
    return [word for command in case.argv for word in command]
