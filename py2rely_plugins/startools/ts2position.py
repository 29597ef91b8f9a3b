"""``py2rely utils ts2position``: rename tomograms ``…TS_n`` to ``…Position_n`` in a particles STAR.

py2rely 0.7.1's rule, for data whose tilt series were named ``TS_<n>`` by one program and
``Position_<n>`` by another: in every ``rlnTomoName`` of ``data_particles``, ``TS_`` becomes
``Position_`` and a final ``_1`` is removed (``24mar08a_TS_1`` → ``24mar08a_Position``,
``24mar08a_TS_12`` → ``24mar08a_Position_12``). Every other table and column is copied unchanged.
"""

from __future__ import annotations

import re
from typing import Any

import click

from py2rely_core.errors import InputError

PARAMS: list[click.Parameter] = [
    click.Option(["-i", "--input"], required=True, type=click.Path(dir_okay=False),
                 help="Particles STAR whose rlnTomoName values are renamed."),
    click.Option(["-o", "--output"], required=True, type=click.Path(dir_okay=False),
                 help="New particles STAR to write (not the input; its directory is created)."),
]
_FINAL_ONE = re.compile(r"_1$")


def position_name(name: str) -> str:
    return _FINAL_ONE.sub("", name.replace("TS_", "Position_"))


def ts2position(input: str, output: str) -> None:
    # Imported here: pandas and starfile would slow every `py2rely` call that lists this command.
    from py2rely_core.star import read_star, require_block, require_columns, write_star
    from py2rely_plugins.startools.inputs import refuse_output_among_inputs

    refuse_output_among_inputs(output, [input])
    blocks = read_star(input)
    block, particles = require_block(blocks, input, ["particles"], "a RELION particles STAR (data_particles)")
    require_columns(particles, input, block, ["rlnTomoName"])
    old = particles["rlnTomoName"].astype(str)
    names = {name: position_name(name) for name in dict.fromkeys(old)}
    sources: dict[str, list[str]] = {}
    for name, renamed_to in names.items():
        sources.setdefault(renamed_to, []).append(name)
    for renamed_to, before in sources.items():
        if len(before) > 1:
            raise InputError(input, f"tomograms {', '.join(before)} would all become {renamed_to!r}",
                             "names that stay distinct after renaming")
    blocks[block] = particles.assign(rlnTomoName=old.map(names).to_numpy())
    write_star(blocks, output)
    renamed = [(a, b) for a, b in names.items() if a != b]
    shown = ", ".join(f"{a} → {b}" for a, b in renamed[:5]) + (" ..." if len(renamed) > 5 else "")
    click.echo(f"wrote {output}: {len(particles)} particles, {len(renamed)} tomogram name(s) renamed"
               + (f": {shown}" if renamed else ""))


def command() -> click.Command:
    def callback(**options: Any) -> None:
        ts2position(**options)

    return click.Command(
        "ts2position", params=list(PARAMS), callback=callback,
        help="Rename tomograms in a particles STAR: 'TS_' becomes 'Position_' and a final '_1' is "
             "removed (py2rely 0.7.1's rule).",
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )
