"""docs/ is a mkdocs-material site: it builds with --strict (a broken link, a missing page or an
anchor that does not exist fails), and every hook has its page with the hook's real signature and
an example that loads as a plugin."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from py2rely_core import hookspecs as core_hookspecs
from py2rely_core.plugins import load
from py2rely_plugins.relion5.sta import hookspecs as sta_hookspecs

ROOT = Path(__file__).resolve().parent.parent
HOOK_PAGES = ROOT / "docs" / "hooks"
CODE = re.compile(r"```python\n(.*?)```", re.S)


def hooks() -> dict[str, object]:
    found = {}
    for module in (core_hookspecs, sta_hookspecs):
        for name, function in vars(module).items():
            if name.startswith("py2rely_") and callable(function):
                found[name] = function
    return found


def test_the_site_builds_strictly(tmp_path):
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")]
    built = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
                           env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert built.returncode == 0, built.stderr[-3000:]
    for page in ("index.html", "report/index.html", "hooks/py2rely_job_finished/index.html",
                 "writing-plugins/index.html", "images/report-demo.png"):
        assert (tmp_path / "site" / page).is_file(), page


def test_every_hook_has_a_page_and_every_page_a_hook():
    pages = {p.stem for p in HOOK_PAGES.glob("py2rely_*.md")}
    assert pages == set(hooks())


@pytest.mark.parametrize("name", sorted(hooks()))
def test_a_hook_page_shows_the_real_signature_and_an_example_that_loads(name):
    text = (HOOK_PAGES / f"{name}.md").read_text(encoding="utf-8")
    signature = str(inspect.signature(hooks()[name])).replace("'", "")
    assert f"def {name}{signature}" in text, f"docs/hooks/{name}.md: the signature differs from the hookspec"
    for heading in ("## When it fires", "## Parameters", "## Returns", "## Example"):
        assert heading in text, f"{name}: no {heading!r}"
    example = CODE.findall(text)[-1]
    module = types.ModuleType(f"hook_page_{name}")
    exec(compile(example, f"docs/hooks/{name}.md", "exec"), module.__dict__)
    assert hasattr(module, name), f"the example of {name} does not implement it"
    plugins = load(entry_points=[], extra=[("relion5", _relion5()), ("example", module)])
    assert plugins.load_problems() == []
    assert any(impl.plugin_name == "example" for impl in getattr(plugins.hook, name).get_hookimpls())


def _relion5() -> types.ModuleType:
    from py2rely_plugins.relion5 import plugin

    return plugin
