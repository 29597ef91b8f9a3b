"""Finding plugins (entry points in group ``py2rely``), and the registries built from their hooks.

Each entry point is loaded on its own so that a broken plugin is reported by name instead of
stopping the program with a traceback. Each hook implementation is also called on its own, so
every registered object is attributed to the plugin that gave it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import pluggy

from py2rely_core import hookspecs
from py2rely_core.errors import PluginError
from py2rely_core.interfaces import PluginInfo

ENTRY_POINT_GROUP = "py2rely"


@dataclass(frozen=True)
class Kind:
    key: str  # registry key and the word used in `py2rely plugins`
    hook: str
    noun: str  # singular, for messages


KINDS: tuple[Kind, ...] = (
    Kind("executors", "py2rely_executors", "executor"),
    Kind("initial_model_strategies", "py2rely_initial_model_strategies", "initial-model strategy"),
    Kind("class_selectors", "py2rely_class_selectors", "class selector"),
    Kind("job_types", "py2rely_job_types", "job type"),
    Kind("importers", "py2rely_importers", "importer"),
    Kind("exporters", "py2rely_exporters", "exporter"),
)
KIND_BY_KEY = {kind.key: kind for kind in KINDS}


def _describe_exception(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class Plugins:
    """The loaded plugins and what they provide."""

    def __init__(self, manager: pluggy.PluginManager, infos: list[PluginInfo]) -> None:
        self.manager = manager
        self.infos = infos
        # Collected on first use: asking a hook imports what its plugin provides, and a command
        # should pay only for the kinds it uses (start-up time of every `py2rely` call).
        self._registries: dict[str, dict[str, Any]] = {}
        self._conflicts: dict[str, list[str]] = {}

    def _ensure(self, key: str) -> None:
        if key not in self._registries:
            self._collect(KIND_BY_KEY[key])

    # -- loading ---------------------------------------------------------------------------

    def _info(self, plugin_name: str) -> PluginInfo:
        for info in self.infos:
            if info.name == plugin_name:
                return info
        info = PluginInfo(name=plugin_name, distribution="-", version="-", module=plugin_name)
        self.infos.append(info)
        return info

    def _collect(self, kind: Kind) -> None:
        registry: dict[str, Any] = {}
        owners: dict[str, str] = {}
        conflicts: list[str] = []
        for impl in getattr(self.manager.hook, kind.hook).get_hookimpls():
            info = self._info(impl.plugin_name)
            try:
                provided = list(impl.function() or [])
            except Exception as exc:  # a plugin's bug must not take the program down
                info.error = f"its {kind.hook} hook failed: {_describe_exception(exc)}"
                continue
            for obj in provided:
                name = getattr(obj, "name", None)
                if not isinstance(name, str) or not name:
                    info.error = f"its {kind.hook} hook returned an object without a name: {obj!r}"
                    continue
                info.provides.setdefault(kind.key, []).append(name)
                if name in registry:
                    conflicts.append(
                        f"plugins '{owners[name]}' and '{impl.plugin_name}' both provide "
                        f"{kind.noun} '{name}'; uninstall or disable one of them"
                    )
                    continue
                registry[name] = obj
                owners[name] = impl.plugin_name
        self._registries[kind.key] = registry
        self._conflicts[kind.key] = conflicts

    # -- queries ---------------------------------------------------------------------------

    def registry(self, key: str) -> dict[str, Any]:
        """All objects of one kind by name; raises PluginError if two plugins claim a name."""
        self._ensure(key)
        if self._conflicts[key]:
            raise PluginError(self._conflicts[key][0])
        return dict(self._registries[key])

    def get(self, key: str, name: str) -> Any:
        registry = self.registry(key)
        if name not in registry:
            noun = KIND_BY_KEY[key].noun
            known = ", ".join(sorted(registry)) or "none installed"
            raise PluginError(f"no {noun} named '{name}' (available: {known})")
        return registry[name]

    def load_problems(self) -> list[str]:
        """One line per plugin that could not be imported or registered (known without asking
        any hook)."""
        return [f"plugin '{info.name}' ({info.distribution}): {info.error}" for info in self.infos
                if info.error]

    def problems(self) -> list[str]:
        """One line per broken plugin or name conflict, of every kind."""
        for kind in KINDS:
            self._ensure(kind.key)
        lines = self.load_problems()
        for key in self._conflicts:
            lines.extend(self._conflicts[key])
        return lines

    @property
    def hook(self) -> Any:
        return self.manager.hook


def _distribution_of(entry_point: metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "-", "-"
    return dist.metadata["Name"], dist.version


def load(
    entry_points: Iterable[metadata.EntryPoint] | None = None,
    extra: Iterable[tuple[str, object]] = (),
) -> Plugins:
    """Load every plugin of group ``py2rely`` (plus ``extra`` (name, module) pairs, for tests)."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    infos: list[PluginInfo] = []
    if entry_points is None:
        entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
    seen: set[str] = set()
    for entry_point in sorted(entry_points, key=lambda ep: ep.name):
        dist_name, version = _distribution_of(entry_point)
        info = PluginInfo(
            name=entry_point.name, distribution=dist_name, version=version,
            module=entry_point.value,
        )
        infos.append(info)
        if entry_point.name in seen:
            info.error = "another installed package registers a plugin with the same name"
            continue
        seen.add(entry_point.name)
        try:
            module = entry_point.load()
        except Exception as exc:  # report, do not crash: other plugins keep working
            info.error = f"cannot be imported: {_describe_exception(exc)}"
            continue
        _register(manager, module, info)
    for name, module in extra:
        info = PluginInfo(name=name, distribution="-", version="-", module=repr(module))
        infos.append(info)
        _register(manager, module, info)
    return Plugins(manager, infos)


def _register(manager: pluggy.PluginManager, module: object, info: PluginInfo) -> None:
    try:
        manager.register(module, name=info.name)
    except Exception as exc:
        info.error = f"cannot be registered: {_describe_exception(exc)}"


@functools.cache
def get_plugins() -> Plugins:
    """The process-wide plugin set (loaded once)."""
    return load()


def reset_cache() -> None:
    get_plugins.cache_clear()


def registry_names(plugins: Plugins, key: str) -> list[str]:
    return sorted(plugins.registry(key))


GetPlugins = Callable[[], Plugins]
