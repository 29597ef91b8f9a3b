#!/bin/sh
# Runs a RELION 5 program from py2rely's embedded Debian root, with the host's paths visible at
# the same absolute paths, so RELION reads and writes a project exactly as a native install would.
#
# Every wrapper in this directory is a symlink to this script; the program run is the symlink's
# name. Mounts are made in a private mount namespace and processes live in a private PID
# namespace: when the program ends (or its process group is killed) the kernel tears both down,
# so nothing stays mounted and no MPI rank outlives the job.
#
# Every job also gets its own temporary directories: a fresh tmpfs on /run (TMPDIR=/run/tmp) and
# on /dev/shm, seen only inside its mount namespace. Open MPI/PRRTE/PMIx name their session
# directory, rendezvous files and shared-memory segments after the launcher's PID, and that PID is
# 1 in every job's PID namespace: with the host's /tmp and /dev/shm, two MPI jobs running at once
# used the same names and failed at random in MPI_Init (segfaults in PMIx, PMIX_ERR_FILE_OPEN_FAILURE).
# A tmpfs vanishes with its namespace, so nothing is left behind even when the job is killed.
set -eu

if [ "${PY2RELY_INSIDE_RELION_ROOT:-}" = 1 ]; then
    # Already inside the root: a wrapper's absolute path handed to mpirun (RELION's GUI and other
    # pipeliners write `mpirun -n 3 /path/to/relion_refine_mpi`) runs each rank here. Namespaces
    # cannot be entered twice, so run the program itself.
    exec "/usr/bin/$(basename "$0")" "$@"
fi

root=$(cat "$(dirname "$0")/.root")
program=$(basename "$0")

if [ ! -e "$root/usr/bin/$program" ] && [ ! -L "$root/usr/bin/$program" ]; then
    echo "py2rely: $program is not in the embedded RELION root $root" >&2
    exit 127
fi

# Top-level directories of the root's own system; every other host directory is bound in.
system_dirs=" bin boot dev etc lib lib32 lib64 libx32 proc run sbin sys usr var lost+found "

exec unshare --mount --propagation private --pid --fork --kill-child -- sh -eu -c '
    root=$1; program=$2; system_dirs=$3; shift 3
    for dir in /*/; do
        name=${dir#/}; name=${name%/}
        case "$system_dirs" in *" $name "*) continue ;; esac
        mkdir -p "$root/$name"
        mount --rbind "/$name" "$root/$name"
    done
    mount -t proc proc "$root/proc"
    mount --rbind /dev "$root/dev"
    mount --rbind /sys "$root/sys"
    mount -t tmpfs -o mode=0755,nosuid,nodev py2rely-run "$root/run"
    mkdir -m 1777 "$root/run/tmp"
    if [ -d "$root/dev/shm" ]; then
        mount -t tmpfs -o mode=1777,nosuid,nodev py2rely-shm "$root/dev/shm"
    fi
    cwd=$(pwd)
    # The root has its own libraries: host library paths must not leak in.
    unset LD_LIBRARY_PATH LD_PRELOAD PYTHONHOME PYTHONPATH
    export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
    export HOME="${HOME:-/root}"
    export PY2RELY_INSIDE_RELION_ROOT=1
    # RELION itself writes no temporary files (its scratch is --scratch_dir); this is for MPI.
    export TMPDIR=/run/tmp
    if [ "$(id -u)" = 0 ]; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    fi
    if [ "$program" = mpirun ]; then
        # More ranks than cores is normal on a workstation (3 ranks for gold-standard refinement).
        set -- --oversubscribe "$@"
        # Open MPI 6.0.0rc2 of the embedded root (Debian sid) crashes in its shared-memory transport
        # (SIGSEGV in mca_btl_sm_poll_handle_frag) during relion_refine_mpi; TCP over loopback works.
        export OMPI_MCA_btl="${OMPI_MCA_btl:-self,tcp}"
        export OMPI_MCA_btl_tcp_if_include="${OMPI_MCA_btl_tcp_if_include:-lo}"
    fi
    exec chroot "$root" /bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$cwd" "$program" "$@"
' py2rely-root "$root" "$program" "$system_dirs" "$@"
