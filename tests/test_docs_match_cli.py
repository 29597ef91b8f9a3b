"""The user guide's option tables in docs/ name exactly the options the CLI has, with the same
short flags: a flag added, renamed or dropped in code without its page fails here."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from py2rely_core.cli import build_cli
from py2rely_core.plugins import get_plugins

DOCS = Path(__file__).resolve().parent.parent / "docs"
HEADING = re.compile(r"^#+ .*`py2rely ([a-z0-9 -]+?)(?: [A-Z\[].*)?`")
ROW = re.compile(r"^\|([^|]*)\|\s*(?:`(-[A-Za-z0-9]+)`)?[^|]*\|")
LONG_FLAG = re.compile(r"`(--[A-Za-z0-9-]+)")


Flags = tuple[str, ...]  # an option's long flags, sorted (aliases included)


def documented_tables() -> dict[str, dict[Flags, str | None]]:
    """{command words: {long flags: short flag}} from every 'Parameter | Short' table."""
    tables: dict[str, dict[Flags, str | None]] = {}
    for page in sorted(DOCS.glob("*.md")):
        command = None
        in_table = False
        for line in page.read_text().splitlines():
            heading = HEADING.match(line)
            if heading:
                command = heading.group(1).strip()
                in_table = False
            elif line.startswith("| Parameter | Short"):
                assert command, f"{page.name}: an option table before any `py2rely ...` heading"
                in_table = True
                tables.setdefault(command, {})
            elif in_table and (row := ROW.match(line)) and LONG_FLAG.search(row.group(1)):
                tables[command][tuple(sorted(LONG_FLAG.findall(row.group(1))))] = row.group(2)
            elif in_table and not line.startswith("|"):
                in_table = False
    return tables


def cli_command(words: str) -> click.Command:
    command: click.Command | None = build_cli(get_plugins())
    context = click.Context(command)
    for word in words.split():
        assert isinstance(command, click.Group), f"`py2rely {words}`: {command.name} has no subcommands"
        command = command.get_command(context, word)  # loads a lazy command
        assert command is not None, f"`py2rely {words}`: no command {word!r}"
    return command


def cli_options(command: click.Command) -> dict[Flags, str | None]:
    options: dict[Flags, str | None] = {}
    for param in command.params:
        if not isinstance(param, click.Option) or "--help" in param.opts:
            continue
        longs = tuple(sorted(o for o in param.opts if o.startswith("--")))
        shorts = [o for o in param.opts if not o.startswith("--")]
        options[longs] = shorts[0] if shorts else None
    return options


TABLES = documented_tables()


def test_the_guide_pages_have_option_tables():
    for words in ("prepare relion5-parameters", "prepare template", "pipelines sta", "demo",
                  "export star2copick", "prepare particles", "prepare tilt-series", "simulate",
                  "prepare import-particles", "prepare relion5-pipeline", "utils ts2position",
                  "utils warp-tm2copick", "prepare combine-particles", "prepare filter-unused-tilts"):
        assert words in TABLES, f"no option table for `py2rely {words}` in docs/"


@pytest.mark.parametrize("words", sorted(TABLES))
def test_documented_options_are_the_cli_options(words):
    documented = TABLES[words]
    actual = cli_options(cli_command(words))
    assert sorted(documented) == sorted(actual), f"`py2rely {words}`: docs vs CLI long flags"
    mismatched = {flag: (documented[flag], actual[flag])
                  for flag in actual if documented[flag] != actual[flag]}
    assert not mismatched, f"`py2rely {words}`: short flags differ (docs, CLI): {mismatched}"
