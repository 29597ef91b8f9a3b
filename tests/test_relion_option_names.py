"""py2rely writes only job options RELION knows, in the names of the release that runs the job.

Checked without RELION against RELION's own option tables (tests/fixtures/relion_job_options:
5.0 read from RELION's source, 5.1 from the RELION 5.1 binary), for each job type's per-release
table and for every job.star the STA pipeline can write (tests/fidelity_jobs.py).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from py2rely_plugins.relion5.jobtypes import all_job_types
from py2rely_plugins.relion5.versions import KNOWN_RELEASES
from tests.fidelity_jobs import all_cases

TABLES = Path(__file__).parent / "fixtures" / "relion_job_options"

# Where py2rely's default differs from RELION's, and why. py2rely writes every option it has, so
# these are the values its job.star files carry unless a planned job sets them.
TOMO_JOBS = ("relion.pseudosubtomo", "relion.reconstructparticletomo", "relion.ctfrefinetomo",
             "relion.framealigntomo", "relion.refine3d.tomo", "relion.class3d", "relion.initialmodel.tomo")
DEFAULT_DIFFERENCES = {
    # Reconstruct never writes the optimisation set RELION declares and duplicate removal writes
    # none, so every tomo job reads its particles and tomograms directly.
    **{(label, "use_direct_entries"): "Yes" for label in TOMO_JOBS},
    # Each of these job types is one mode of RELION's Select or Join job.
    ("relion.select.removeduplicates", "do_remove_duplicates"): "Yes",
    ("relion.select.onvalue", "do_select_values"): "Yes",
    ("relion.joinstar.particles", "do_part"): "Yes",
}

# RELION options py2rely never writes (RELION's defaults apply), and why that is safe.
NOT_WRITTEN = {
    # Queue submission: py2rely's executors submit jobs; do_queue is always No.
    "qsub", "qsubscript", "queuename",
    # Helical refinement: Refine3D and Class3D refuse do_helix Yes.
    "do_apply_helical_symmetry", "do_local_search_helical_symmetry", "helical_nr_asu",
    "helical_nstart", "helical_range_distance", "helical_rise_inistep", "helical_rise_initial",
    "helical_rise_max", "helical_rise_min", "helical_tube_inner_diameter",
    "helical_tube_outer_diameter", "helical_twist_inistep", "helical_twist_initial",
    "helical_twist_max", "helical_twist_min", "helical_z_percentage", "keep_tilt_prior_fixed",
    "range_psi", "range_rot", "range_tilt",
    # Joining micrograph or movie STAR files: py2rely joins particles only.
    "fn_mic1", "fn_mic2", "fn_mic3", "fn_mic4", "fn_mov1", "fn_mov2", "fn_mov3", "fn_mov4",
}


@cache
def relion_table(release: str) -> dict[str, dict]:
    return json.loads((TABLES / f"relion-{release}.json").read_text(encoding="utf-8"))["job_types"]


@pytest.mark.parametrize("release", KNOWN_RELEASES)
def test_every_option_is_one_relion_knows_with_relions_default(release):
    for job_type in all_job_types():
        job_type = job_type.for_release(release)
        relion = relion_table(release)[job_type.name]
        assert job_type.is_tomo == relion["is_tomo"], job_type.name
        options = relion["options"]
        assert sorted(set(job_type.defaults) - set(options)) == [], (
            f"RELION {release} has no option(s) of that name for {job_type.name}")
        for name, value in job_type.defaults.items():
            if options[name].startswith("<"):  # a compile-time default of the source
                continue
            expected = DEFAULT_DIFFERENCES.get((job_type.name, name), options[name])
            assert value == expected, (job_type.name, name)
        assert set(options) - set(job_type.defaults) <= NOT_WRITTEN, job_type.name


@pytest.mark.parametrize("release", KNOWN_RELEASES)
def test_every_job_star_the_pipeline_writes_uses_the_release_names(release):
    cases = all_cases(release)
    assert len(cases) > 90
    for case in cases:
        known = relion_table(release)[case.type_label]["options"]
        assert sorted(set(case.options) - set(known)) == [], case.name


def test_the_releases_differ_where_relion_renamed_options():
    extract_50 = set(relion_table("5.0")["relion.pseudosubtomo"]["options"])
    extract_51 = set(relion_table("5.1")["relion.pseudosubtomo"]["options"])
    assert extract_50 - extract_51 == {"binning", "box_size", "crop_size", "do_stack2d"}
    assert extract_51 - extract_50 == {"box_size_angst", "precrop_size_angst", "binned_size_pix",
                                       "subtomo_format"}
    assert "do_pad1" not in relion_table("5.0")["relion.initialmodel.tomo"]["options"]
    assert "do_pad1" not in relion_table("5.1")["relion.initialmodel.tomo"]["options"]
    assert "blush_version" in relion_table("5.1")["relion.refine3d.tomo"]["options"]
    assert "blush_version" not in relion_table("5.0")["relion.refine3d.tomo"]["options"]
