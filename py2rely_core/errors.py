"""Error types. Each carries the exit code the CLI returns and a one-line message for the user."""

from __future__ import annotations


class Py2relyError(Exception):
    """Base class: an error the user can act on. ``str(err)`` is the whole message."""

    exit_code = 1


class InputError(Py2relyError):
    """A file or option given by the user is missing, malformed or inconsistent."""

    exit_code = 2

    def __init__(self, where: str, problem: str, expected: str | None = None) -> None:
        self.where = where
        self.problem = problem
        self.expected = expected
        message = f"{where}: {problem}"
        if expected:
            message += f" (expected {expected})"
        super().__init__(message)


class ParameterError(InputError):
    """The parameter file is invalid; ``where`` names the file and the key."""


class PluginError(Py2relyError):
    """A plugin failed to load, or two plugins claim the same name."""

    exit_code = 3


class RuntimeNotFound(Py2relyError):
    """No usable RELION installation (on PATH or embedded)."""

    exit_code = 4


class JobFailed(Py2relyError):
    """A RELION job ended without success; the message names the job dir, command and log tail."""

    exit_code = 5


class ProjectLocked(Py2relyError):
    """Another driver holds the project lock."""

    exit_code = 6


class NeedsDecision(Py2relyError):
    """The workflow stopped on purpose and waits for a choice (e.g. manual class selection);
    the message says what to choose and how to rerun."""

    exit_code = 10


class Aborted(Py2relyError):
    """The user interrupted the run (Ctrl-C, SIGTERM, SIGHUP) or asked for an abort; the exit code
    is 128 + the signal's number, as a shell reports a process that a signal stopped."""

    exit_code = 130

    def __init__(self, message: str, exit_code: int = 130) -> None:
        super().__init__(message)
        self.exit_code = exit_code
