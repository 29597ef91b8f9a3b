"""Termination signals: SIGTERM and SIGHUP stop a driver the way Ctrl-C does.

SIGTERM is what a scheduler sends at the time limit of the driver's own allocation (and what
`kill` sends); SIGHUP is what a closed terminal sends. The handler raises ``Interrupted``, a
KeyboardInterrupt, so every place that handles Ctrl-C (the runner aborts the running job)
handles them too, and the exit code is 128 + the signal's number.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

TERMINATING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """A termination signal reached the driver."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal_name(signum))
        self.signum = signum


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def interrupted_by(exc: BaseException | None) -> int:
    """The signal behind a KeyboardInterrupt (SIGINT for Python's own)."""
    return int(getattr(exc, "signum", signal.SIGINT))


class _State:
    """What the handler needs to know: a stop under way, a critical step, a signal held back."""

    stopping = False
    deferring = 0
    pending: int | None = None


def _stop(signum: int, frame: object) -> None:
    if _State.stopping:
        sys.stderr.write(f"py2rely: {signal_name(signum)} ignored: already stopping\n")
        return
    if _State.deferring:
        _State.pending = _State.pending or signum
        return
    _State.stopping = True
    raise Interrupted(signum)


def install_handlers() -> None:
    """Raise ``Interrupted`` on SIGINT, SIGTERM and SIGHUP.

    A signal already ignored when py2rely starts stays ignored: ``nohup`` ignores SIGHUP on
    purpose, and a shell ignores SIGINT for the commands it starts in the background. Signals
    after the first are reported and ignored, so a second Ctrl-C cannot break off the abort of the
    running job half-way."""
    if threading.current_thread() is not threading.main_thread():
        return
    _State.stopping, _State.deferring, _State.pending = False, 0, None
    for signum in TERMINATING_SIGNALS:
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, _stop)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold a termination signal back during a short critical step (starting a job and recording
    its process id), so it cannot leave a job running that no record points to; it is raised when
    the step ends. (Not by blocking the signal: a blocked mask would be inherited by the job.)"""
    _State.deferring += 1
    try:
        yield
    finally:
        _State.deferring -= 1
        if not _State.deferring and _State.pending is not None:
            signum, _State.pending = _State.pending, None
            _State.stopping = True
            raise Interrupted(signum)
