"""`py2rely relion install` and `py2rely relion info`."""

from __future__ import annotations

import sys

import click

from py2rely_plugins.relion5 import runtime as rt

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _progress(message: str) -> None:
    # One updating line on a terminal, plain lines otherwise (logs, CI).
    if sys.stderr.isatty():
        click.echo(f"\r\033[K{message}", err=True, nl=False)
    else:
        click.echo(message, err=True)


@click.group("relion", context_settings=CONTEXT_SETTINGS)
def relion_group() -> None:
    """The RELION 5 installation jobs use: a site install on PATH, or the embedded runtime."""


@relion_group.command("install", context_settings=CONTEXT_SETTINGS)
@click.option("--home", type=click.Path(file_okay=False), default=None,
              help=f"Where to install (default: ${rt.HOME_ENV} or ~/.cache/py2rely/relion5).")
def install_command(home: str | None) -> None:
    """Install Debian's RELION 5.1 into a self-contained root (needs root and debootstrap).

    Does nothing when the runtime is already there.
    """
    from pathlib import Path

    target = Path(home).resolve() if home else rt.runtime_home()
    runtime, installed_now = rt.install(target, progress=_progress)
    if installed_now and sys.stderr.isatty():
        click.echo("", err=True)
    state = "installed" if installed_now else "already installed"
    size_gb = rt.disk_usage(target) / 1e9
    click.echo(f"RELION runtime {state}: {target} ({size_gb:.2f} GB); wrappers in {runtime.bin_dir}")


@relion_group.command("info", context_settings=CONTEXT_SETTINGS)
@click.option("--setup", "setup_lines", multiple=True,
              help=f"Site set-up line run first (repeatable; default: ${rt.SETUP_ENV}).")
def info_command(setup_lines: tuple[str, ...]) -> None:
    """Print which RELION jobs will use, its version, and whether MPI works."""
    runtime = rt.require(setup_lines)
    version = rt.version_or_error(runtime)
    click.echo(f"RELION: {runtime.describe()}")
    click.echo(f"version: {version}")
    if runtime.setup_lines:
        click.echo("setup lines: " + "; ".join(runtime.setup_lines))
    works, detail = rt.check_mpi(runtime)
    click.echo(f"MPI: {'works' if works else 'BROKEN'} ({detail})")
    if not works:
        sys.exit(4)
