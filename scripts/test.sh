#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what the tests need, then runs them.
#   - the package with its test extras (editable),
#   - the embedded RELION 5.1 runtime when no RELION is on PATH (py2rely relion install);
#   - Debian's chromium for the report's browser test (Playwright drives it; Playwright's own
#     browser downloads are never used),
#   - the SLURM tests start (and stop) a one-node cluster themselves with scripts/slurm-cluster.sh,
# then `ruff check` and `pytest` (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --disable-pip-version-check --quiet -e '.[test]'

if [ ! -x /usr/bin/chromium ]; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

if ! command -v relion_refine >/dev/null 2>&1; then
    py2rely relion install
fi
py2rely relion info

ruff check .
python -m pytest "$@"
