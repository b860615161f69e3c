"""Find platform clients: built-in and third-party alike register in one entry-point group.

A package adds a platform by declaring, in its pyproject.toml::

    [project.entry-points."metpost.platforms"]
    noticeboard = "metpost_noticeboard:NoticeboardPlatform"

The class must subclass ``metpost.platforms.api.Platform`` and its ``name`` must match the
entry point's name. metpost's own platforms load first and keep their names. A plugin that
cannot be loaded is reported in one line on stderr and left out, so one broken package does
not stop every command. ``$METPOST_PLUGINS`` (names, separated by commas) loads only those
plugins; set to nothing it loads none (tests use it, so that a plugin installed in the
environment cannot change what they see).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint, entry_points

from metpost.errors import MetpostError
from metpost.platforms.api import Platform

ENTRY_POINT_GROUP = "metpost.platforms"
PLUGINS_ENV = "METPOST_PLUGINS"
BUILTIN_DISTRIBUTION = "metpost"


@dataclass(frozen=True)
class Provider:
    """The installed package a platform comes from."""

    package: str
    version: str
    builtin: bool


class _Unusable(Exception):
    """An entry point that does not give a usable platform; the message says why."""


@cache
def platform_classes() -> dict[str, type[Platform]]:
    """Every installed platform, by name. Loading one imports its module, not its client library."""
    found: dict[str, type[Platform]] = {}
    for entry_point in _wanted_entry_points():
        where = f"platform plugin '{entry_point.name}' ({entry_point.value})"
        if entry_point.name in found:
            _report(f"{where} has the name of a platform already installed; skipped")
            continue
        try:
            found[entry_point.name] = _load(entry_point)
        except _Unusable as problem:
            _report(f"{where} {problem}; skipped")
    if not found:
        raise MetpostError("no platforms are registered: metpost is not installed as a package; "
                           "run pip install -e . in the project")
    return found


def platform_providers() -> dict[str, Provider]:
    """The package each loaded platform comes from, by platform name."""
    providers = {}
    loaded = platform_classes()
    for entry_point in _wanted_entry_points():
        if entry_point.name in loaded and entry_point.name not in providers:
            dist = entry_point.dist
            name = dist.metadata["Name"] if dist is not None else entry_point.module
            providers[entry_point.name] = Provider(
                package=name, version=dist.version if dist is not None else "",
                builtin=_is_builtin(entry_point))
    return providers


def _wanted_entry_points() -> list[EntryPoint]:
    """metpost's own entry points, then the plugins ``$METPOST_PLUGINS`` allows."""
    allowed = os.environ.get(PLUGINS_ENV)
    names = None if allowed is None else {
        name.strip() for name in allowed.replace(" ", ",").split(",") if name.strip()}
    everything = list(entry_points(group=ENTRY_POINT_GROUP))
    builtins = [point for point in everything if _is_builtin(point)]
    plugins = [point for point in everything if not _is_builtin(point)
               and (names is None or point.name in names)]
    return builtins + plugins


def _is_builtin(entry_point: EntryPoint) -> bool:
    dist = entry_point.dist
    return dist is not None and dist.metadata["Name"] == BUILTIN_DISTRIBUTION


def _load(entry_point: EntryPoint) -> type[Platform]:
    try:
        loaded = entry_point.load()
    except Exception as error:  # a broken plugin must not hide behind a traceback
        raise _Unusable(f"failed to load: {type(error).__name__}: {error} (reinstall or remove "
                        f"it, or leave it out with {PLUGINS_ENV})") from None
    if not (isinstance(loaded, type) and issubclass(loaded, Platform)):
        raise _Unusable("is not a metpost Platform subclass; fix the plugin")
    if getattr(loaded, "name", None) != entry_point.name:
        raise _Unusable(f"calls itself '{getattr(loaded, 'name', None)}'; the names must match")
    return loaded


def _report(problem: str) -> None:
    from metpost.output import plugin_warning

    plugin_warning(problem)
