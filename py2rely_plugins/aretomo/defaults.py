"""py2rely 0.7.1's defaults for `prepare tilt-series`, kept so that its command lines mean the same."""

BASE_PROJECT = "/hpc/projects/group.czii/krios1.processing/aretomo3"  # its home site's AreTomo project
SESSION = "23dec21"
TOTAL_DOSE = 60.0  # e/Å² per tilt series, used only for tilt series without per-image doses
