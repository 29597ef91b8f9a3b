"""Entry point of the bundled RELION 5 plugin."""

from __future__ import annotations

from typing import Any

from py2rely_core.hookspecs import hookimpl
from py2rely_core.interfaces import HookDeclarations


@hookimpl
def py2rely_add_hookspecs(declarations: HookDeclarations) -> None:
    from py2rely_plugins.relion5.sta import hookspecs

    declarations.add_hookspecs(hookspecs)
    for kind in hookspecs.KINDS:
        declarations.add_kind(kind)


@hookimpl
def py2rely_job_types() -> list:
    from py2rely_plugins.relion5.jobtypes import all_job_types

    return all_job_types()


@hookimpl
def py2rely_cli_commands(cli: Any) -> None:
    from py2rely_plugins.relion5.demo import demo_command
    from py2rely_plugins.relion5.runtime_cli import relion_group
    from py2rely_plugins.relion5.sta.cli import sta_command
    from py2rely_plugins.relion5.sta.prepare_parameters import relion5_parameters
    from py2rely_plugins.relion5.sta.prepare_template import template
    from py2rely_plugins.relion5.status import status_command

    cli.add_command(relion_group)
    cli.add_command(status_command)
    cli.add_command(demo_command)
    cli.commands["prepare"].add_command(relion5_parameters)
    cli.commands["prepare"].add_command(template)
    cli.commands["pipelines"].add_command(sta_command)
    _add_compat_commands(cli)


def _add_compat_commands(cli: Any) -> None:
    """Single jobs, the bin-1 and polishing stages, class export (py2rely 0.7.1's commands)."""
    from py2rely_plugins.relion5.routines.class2star import class2star
    from py2rely_plugins.relion5.routines.commands import routines
    from py2rely_plugins.relion5.routines.stages import bin1_command, polish_command

    cli.add_command(routines)
    cli.commands["pipelines"].add_command(bin1_command)
    cli.commands["pipelines"].add_command(polish_command)
    cli.commands["export"].add_command(class2star)
