"""Which RELION release's job options py2rely writes, and that a job keeps its identity."""

from __future__ import annotations

import pytest

from py2rely_core import jobs
from py2rely_plugins.relion5.jobtypes import all_job_types, labels
from py2rely_plugins.relion5.versions import NEWEST, choose_release, job_types_for
from tests.fidelity_jobs import plan_cases, plan_variants


@pytest.mark.parametrize(("version", "release"), [("5.0.0", "5.0"), ("5.0.1", "5.0"), ("5.1.0", "5.1"),
                                                  ("5.1", "5.1")])
def test_a_known_release_writes_its_own_names(version, release):
    choice = choose_release(version)
    assert (choice.release, choice.detected, choice.note) == (release, version, "")


def test_a_newer_relion_gets_the_newest_names_with_a_note_and_none_found_too():
    newer = choose_release("5.2.1")
    assert newer.release == NEWEST and "newer than py2rely knows" in newer.describe()
    missing = choose_release(None)
    assert missing.release == NEWEST
    assert missing.describe() == "no RELION found; job options of RELION 5.1 (the newest py2rely knows)"
    with pytest.raises(ValueError, match="older than the oldest release"):
        choose_release("4.0.1")


def test_the_registry_is_set_to_a_release_and_other_job_types_pass_through():
    class Foreign:
        name = "mylab.extract"

    registry = {t.name: t for t in all_job_types()} | {"mylab.extract": Foreign()}
    adapted = job_types_for(registry, "5.0")
    assert adapted[labels.EXTRACT].release == "5.0" and "binning" in adapted[labels.EXTRACT].defaults
    assert registry[labels.EXTRACT].release == NEWEST  # the registered job type is unchanged
    assert adapted["mylab.extract"] is registry["mylab.extract"]


def _identities(release: str) -> dict[str, str]:
    variant = next(v for v in plan_variants() if v.name == "bin1")
    return {case.job_dir: jobs.identity(case.type_label, case.options, {})
            for case in plan_cases(variant, release)}


def test_a_job_keeps_its_identity_on_the_same_release_and_changes_only_where_options_do():
    first, again = _identities("5.1"), _identities("5.1")
    assert first == again
    older = _identities("5.0")
    changed = {job_dir.split("/")[0] for job_dir in first if first[job_dir] != older[job_dir]}
    # Extract's boxes and Refine3D's blush_version are named differently; nothing else is.
    assert changed == {"Extract", "Refine3D"}
