"""Finding plugins (entry points in group ``py2rely``), and the registries built from their hooks.

Each entry point is loaded on its own so that a broken plugin is reported by name instead of
stopping the program with a traceback. Each hook implementation is also called on its own, so
every registered object is attributed to the plugin that gave it.

Two plugins giving the same name for the same kind is an error, unless the user chose which one to
use (``--prefer-plugin job_types:relion.pseudosubtomo=my_plugin`` or $PY2RELY_PREFER_PLUGIN), e.g.
to replace a bundled job type by a lab's own.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping
from importlib import metadata
from typing import Any

import pluggy

from py2rely_core import hookspecs
from py2rely_core.errors import PluginError
from py2rely_core.interfaces import HookDeclarations, Kind, PluginInfo

ENTRY_POINT_GROUP = "py2rely"
PREFER_ENV = "PY2RELY_PREFER_PLUGIN"


CORE_KINDS: tuple[Kind, ...] = (
    Kind("executors", "py2rely_executors", "executor"),
    Kind("job_types", "py2rely_job_types", "job type"),
    Kind("importers", "py2rely_importers", "importer"),
    Kind("exporters", "py2rely_exporters", "exporter"),
)


def parse_preferences(text: str) -> dict[tuple[str, str], str]:
    """'job_types:relion.pseudosubtomo=my_plugin,...' -> {("job_types", "relion.pseudosubtomo"): ...}."""
    preferences: dict[tuple[str, str], str] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        kind, sep, rest = item.partition(":")
        name, eq, plugin = rest.rpartition("=")
        if not sep or not eq or not kind or not name or not plugin:
            raise PluginError(f"plugin preference {item!r} is not KIND:NAME=PLUGIN "
                              "(e.g. job_types:relion.pseudosubtomo=my_plugin)")
        preferences[(kind, name)] = plugin
    return preferences


def _describe_exception(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class Plugins:
    """The loaded plugins and what they provide."""

    def __init__(self, manager: pluggy.PluginManager, infos: list[PluginInfo],
                 kinds: Iterable[Kind] = CORE_KINDS,
                 preferences: Mapping[tuple[str, str], str] | None = None) -> None:
        self.manager = manager
        self.infos = infos
        self.kinds: list[Kind] = list(kinds)
        self.preferences: dict[tuple[str, str], str] = dict(preferences or {})
        # Collected on first use: asking a hook imports what its plugin provides, and a command
        # should pay only for the kinds it uses (start-up time of every `py2rely` call).
        self._registries: dict[str, dict[str, Any]] = {}
        self._conflicts: dict[str, list[str]] = {}

    def kind(self, key: str) -> Kind:
        for kind in self.kinds:
            if kind.key == key:
                return kind
        known = ", ".join(k.key for k in self.kinds)
        raise PluginError(f"no plugin declares objects of kind '{key}' (known kinds: {known})")

    def prefer(self, preferences: Mapping[tuple[str, str], str]) -> None:
        """Use ``plugin`` for ``(kind, name)`` where several plugins provide that name."""
        self.preferences.update(preferences)
        for kind, _ in preferences:
            self._registries.pop(kind, None)
            self._conflicts.pop(kind, None)

    def _ensure(self, key: str) -> None:
        if key not in self._registries:
            self._collect(self.kind(key))

    # -- loading ---------------------------------------------------------------------------

    def _collect(self, kind: Kind) -> None:
        registry: dict[str, Any] = {}
        owners: dict[str, str] = {}
        conflicts: list[str] = []
        caller = getattr(self.manager.hook, kind.hook, None)
        for impl in caller.get_hookimpls() if caller is not None else ():
            info = _info_named(self.infos, impl.plugin_name)
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
                    preferred = self.preferences.get((kind.key, name))
                    if preferred == impl.plugin_name:
                        registry[name], owners[name] = obj, impl.plugin_name
                    elif preferred != owners[name]:
                        conflicts.append(
                            f"plugins '{owners[name]}' and '{impl.plugin_name}' both provide "
                            f"{kind.noun} '{name}'; uninstall one of them or choose one with "
                            f"--prefer-plugin {kind.key}:{name}=PLUGIN"
                        )
                    continue
                registry[name] = obj
                owners[name] = impl.plugin_name
        for (key, name), plugin in self.preferences.items():
            if key == kind.key and owners.get(name) != plugin:
                conflicts.append(f"--prefer-plugin {key}:{name}={plugin}: plugin '{plugin}' does not "
                                 f"provide {kind.noun} '{name}'"
                                 + (f" (provided by '{owners[name]}')" if name in owners else ""))
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
            noun = self.kind(key).noun
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
        for kind in self.kinds:
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
    """Load every plugin of group ``py2rely`` (plus ``extra`` (name, module) pairs, for tests);
    then let plugins declare their own hooks and kinds."""
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
    kinds = list(CORE_KINDS)
    declarations = HookDeclarations(manager, kinds)
    for impl in manager.hook.py2rely_add_hookspecs.get_hookimpls():
        try:
            impl.function(*(declarations for _ in impl.argnames))
        except Exception as exc:  # a plugin's bug must not take the program down
            _info_named(infos, impl.plugin_name).error = (
                f"its py2rely_add_hookspecs hook failed: {_describe_exception(exc)}")
    return Plugins(manager, infos, kinds, parse_preferences(os.environ.get(PREFER_ENV, "")))


def _info_named(infos: list[PluginInfo], name: str) -> PluginInfo:
    for info in infos:
        if info.name == name:
            return info
    info = PluginInfo(name=name, distribution="-", version="-", module=name)
    infos.append(info)
    return info


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
