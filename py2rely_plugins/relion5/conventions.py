"""RELION facts that job builders and the STA parameter file both depend on, defined once.

- The angular sampling menu of RELION's Refine3D/Class3D jobs and the HEALPix order a sampling
  label stands for.
- The MPI rank rule of gold-standard refinement.
"""

from __future__ import annotations

# RELION's angular sampling menu (job options "sampling", "auto_local_sampling"), coarse to fine,
# in degrees (job_sampling_options in RELION's pipeline_jobs.h).
ANGULAR_SAMPLINGS = (30.0, 15.0, 7.5, 3.7, 1.8, 0.9, 0.5, 0.2, 0.1)
# --oversampling written with every angular search.
OVERSAMPLING = 1
# RELION's JobOption::getHealPixOrder: the menu index + 1 ("30 degrees" is HEALPix order 1, about
# 29°). A label names the step after oversampling: the job runs --healpix_order (order −
# oversampling), i.e. a coarse pass at twice the label's step, refined once to the label's step.
HEALPIX_ORDER = {f"{degrees:g} degrees": index + 1 for index, degrees in enumerate(ANGULAR_SAMPLINGS)}


def sampling_label(degrees: float) -> str:
    """The exact RELION job-option text for an angular step, e.g. ``"7.5 degrees"``."""
    if degrees not in ANGULAR_SAMPLINGS:
        raise ValueError(f"{degrees} is not one of RELION's angular samplings {ANGULAR_SAMPLINGS}")
    return f"{degrees:g} degrees"


def healpix_order(label: str) -> int:
    """RELION's HEALPix order of a sampling label (before oversampling is subtracted)."""
    try:
        return HEALPIX_ORDER[label]
    except KeyError:
        raise ValueError(f"{label!r} is not one of RELION's samplings {list(HEALPIX_ORDER)}") from None


def coarser_sampling(degrees: float) -> float:
    """The menu entry one step coarser than ``degrees`` (one HEALPix order lower)."""
    index = ANGULAR_SAMPLINGS.index(degrees)
    if index == 0:
        raise ValueError(f"{degrees}° is RELION's coarsest angular sampling")
    return ANGULAR_SAMPLINGS[index - 1]


def gold_standard_rank_problem(ranks: int) -> str | None:
    """Why ``ranks`` cannot run a gold-standard refinement (one leader and two equal halves), or
    None when it can."""
    if ranks < 3 or ranks % 2 == 0:
        return f"must be odd and at least 3 MPI ranks (a leader and two gold-standard halves), got {ranks}"
    return None


def odd_ranks_for_refinement(processes: int) -> int:
    """The most ranks a gold-standard refinement can use out of ``processes`` (at least 3)."""
    ranks = processes if processes % 2 == 1 else processes - 1
    return max(3, ranks)
