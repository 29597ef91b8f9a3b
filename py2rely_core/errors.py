"""Error types. Each carries the exit code the CLI returns and a one-line message for the user."""

from __future__ import annotations

import errno
import os
from typing import ClassVar


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


class FileSystemError(Py2relyError):
    """The file system refused a read or write (full disk, read-only, no permission, ...).

    Built from the ``OSError``: the message names the path, the errno's meaning and its symbol,
    e.g. ``out/x.star: No space left on device (ENOSPC); free space and run the command again``.
    """

    exit_code = 7
    HINTS: ClassVar[dict[int, str]] = {
        errno.ENOSPC: "free space and run the command again",
        errno.EDQUOT: "free space within your quota and run the command again",
        errno.EROFS: "write to another location",
        errno.EACCES: "write to a location you may write to",
        errno.EPERM: "write to a location you may write to",
    }

    def __init__(self, path: str, strerror: str, code: int | None = None, context: str = "") -> None:
        self.path = path
        self.errno = code
        symbol = errno.errorcode.get(code, "") if code is not None else ""
        message = f"{path}: {strerror}" + (f" ({symbol})" if symbol else "")
        if context:
            message = f"{context}: {message}"
        hint = self.HINTS.get(code) if code is not None else None
        super().__init__(message + (f"; {hint}" if hint else ""))

    @classmethod
    def from_os_error(cls, exc: OSError, path: str | os.PathLike[str] | None = None) -> FileSystemError:
        where = exc.filename if exc.filename is not None else path
        if exc.filename2 is not None:
            where = f"{exc.filename} -> {exc.filename2}"
        strerror = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc))
        return cls(os.fsdecode(where) if where is not None else "(file)", strerror, exc.errno)


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
