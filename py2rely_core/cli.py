"""The ``py2rely`` command: root group, the core groups, and the commands plugins add."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from py2rely_core import __version__, log
from py2rely_core.cli_lazy import LazyCommand
from py2rely_core.cli_types import finite_floats
from py2rely_core.errors import FileSystemError, PluginError, Py2relyError
from py2rely_core.plugins import Plugins, get_plugins, parse_preferences
from py2rely_core.signals import install_handlers, interrupted_by, signal_name

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
              "error": logging.ERROR}


def optional_bool(*names: str, help: str, default: bool = False) -> Any:
    """A boolean option usable as a flag (``--x``) or with a value (``--x True``), as the guide
    writes ``--run-denovo-generation True``."""
    return click.option(
        *names, type=click.BOOL, default=default, is_flag=False, flag_value=True,
        show_default=True, help=help,
    )


class Py2relyGroup(click.Group):
    """A group whose commands are listed in the order they were added, loaded when first used
    (``LazyCommand``), and whose float options refuse NaN and infinity (``finite_floats``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name)
        if isinstance(command, LazyCommand):
            try:
                command = command.load()
            except Exception as exc:  # a plugin's import error: name it, do not crash
                text = str(exc).strip().splitlines()
                raise PluginError(f"command '{cmd_name}' cannot be loaded from {command.target}: "
                                  f"{type(exc).__name__}: {text[0] if text else ''}") from None
            self.commands[cmd_name] = command
        return finite_floats(command) if command is not None else None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from each command's one-line help, without loading lazy commands."""
        commands = [(name, self.commands[name]) for name in self.list_commands(ctx)
                    if not self.commands[name].hidden]
        if not commands:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in commands)
        with formatter.section("Commands"):
            formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in commands])


@click.group(cls=Py2relyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="py2rely")
@click.option("--log-level", type=click.Choice(list(LOG_LEVELS)), default="info", show_default=True,
              help="Least severe log messages shown.")
@click.option("--log-format", type=click.Choice(log.LOG_FORMATS), default="console",
              show_default=True, help="Human console lines or JSON lines (one object per event).")
@click.option("--prefer-plugin", "prefer_plugin", multiple=True, metavar="KIND:NAME=PLUGIN",
              help="Where two plugins provide the same name, use this plugin's (e.g. "
                   "job_types:relion.pseudosubtomo=my_extraction); repeatable.")
@click.pass_context
def root(ctx: click.Context, log_level: str, log_format: str, prefer_plugin: tuple[str, ...]) -> None:
    """Sub-tomogram averaging with RELION 5: prepare inputs, run pipelines, export results."""
    log.configure(LOG_LEVELS[log_level], log_format)
    if prefer_plugin:
        get_plugins().prefer(parse_preferences(",".join(prefer_plugin)))
    ctx.ensure_object(dict)
    ctx.obj["log_format"] = log_format


@root.group(cls=Py2relyGroup, context_settings=CONTEXT_SETTINGS)
def prepare() -> None:
    """Prepare inputs: parameter file, template, tilt series and particles."""


@root.group(cls=Py2relyGroup, context_settings=CONTEXT_SETTINGS)
def pipelines() -> None:
    """Run processing pipelines in a RELION project directory."""


@root.group(cls=Py2relyGroup, context_settings=CONTEXT_SETTINGS)
def export() -> None:
    """Export results (particles, maps) to other tools."""


@root.group(cls=Py2relyGroup, context_settings=CONTEXT_SETTINGS)
def utils() -> None:
    """Convert between formats (STAR files, copick projects, other tools' outputs)."""


@root.command("plugins", context_settings=CONTEXT_SETTINGS)
def plugins_command() -> None:
    """List every installed plugin and what it provides."""
    plugins = get_plugins()
    problems = plugins.problems()  # collects every kind, so `provides` is complete
    for info in sorted(plugins.infos, key=lambda i: i.name):
        status = "BROKEN" if info.error else "ok"
        click.echo(f"{info.name}  [{status}]  {info.distribution} {info.version}  ({info.module})")
        for kind in plugins.kinds:
            names = info.provides.get(kind.key)
            if names:
                click.echo(f"    {kind.key.replace('_', ' ')}: {', '.join(names)}")
        if info.error:
            click.echo(f"    error: {info.error}")
    for line in problems:
        click.echo(f"error: {line}", err=True)
    if problems:
        sys.exit(3)


def _converter_command(converter: Any) -> click.Command:
    def callback(**options: Any) -> None:
        converter.run(**options)

    return click.Command(
        name=converter.name, params=list(converter.params), callback=callback,
        help=converter.description, context_settings=CONTEXT_SETTINGS,
    )


def build_cli(plugins: Plugins) -> click.Group:
    """Attach what plugins provide: their own commands, importers and exporters."""
    for problem in plugins.load_problems():
        click.echo(f"warning: {problem}", err=True)
    plugins.hook.py2rely_cli_commands(cli=root)
    for group, key in ((prepare, "importers"), (export, "exporters")):
        try:
            converters = plugins.registry(key)
        except Py2relyError as exc:
            click.echo(f"warning: {exc}", err=True)
            continue
        for name, converter in converters.items():
            if name not in group.commands:
                group.add_command(_converter_command(converter))
    return root


def _interrupted(exc: BaseException | None) -> None:
    signum = interrupted_by(exc)
    click.echo(f"error: interrupted by {signal_name(signum)}", err=True)
    sys.exit(128 + signum)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI, turning py2rely errors into one line and an exit code."""
    install_handlers()  # SIGTERM and SIGHUP stop a pipeline as Ctrl-C does
    run_command_line(lambda: build_cli(get_plugins()), argv, "py2rely")


def run_command_line(make_cli: Callable[[], click.Command], argv: Sequence[str] | None,
                     prog_name: str) -> None:
    """Run a click command line the py2rely way (every console script of the project): each
    error is one line and an exit code, never a traceback."""
    try:
        cli = make_cli()
        cli.main(args=list(argv) if argv is not None else None, prog_name=prog_name,
                 standalone_mode=False)
    except Py2relyError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:  # click turns a KeyboardInterrupt into Abort
        _interrupted(exc.__cause__)
    except KeyboardInterrupt as exc:  # before click took over (loading plugins)
        _interrupted(exc)
    except click.UsageError as exc:
        # One line, like every other error; the usage text is one `-h` away.
        command = exc.ctx.command_path if exc.ctx else prog_name
        click.echo(f"error: {command}: {exc.format_message()} (see '{command} -h')", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:
        # The file system said no (full disk, read-only, permissions) where no command caught it:
        # one line naming the path and the errno, never a traceback. Outputs are written
        # atomically, so nothing is half-written.
        error = FileSystemError.from_os_error(exc)
        click.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
