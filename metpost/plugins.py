"""Find platform clients: metpost's own by name, third-party ones through an entry-point group.

A package adds a platform by declaring, in its pyproject.toml::

    [project.entry-points."metpost.platforms"]
    noticeboard = "metpost_noticeboard:NoticeboardPlatform"

The class must subclass ``metpost.platforms.api.Platform`` and its ``name`` must match the
entry point's name. metpost's own platforms (``BUILTIN_PLATFORMS``) keep their names. A plugin
that cannot be loaded is reported in one line on stderr and left out, so one broken package does
not stop every command. ``$METPOST_PLUGINS`` (names, separated by commas) loads only those
plugins; set to nothing it loads none (tests use it, so that a plugin installed in the
environment cannot change what they see).

Looking through installed packages for entry points costs more than the rest of a dry run's
start-up, so it happens only when it must: when a name is not one of metpost's own, or when
every platform is listed. A config of built-in platforms never looks.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from metpost.lazy import load
from metpost.platforms.api import Platform

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

ENTRY_POINT_GROUP = "metpost.platforms"
PLUGINS_ENV = "METPOST_PLUGINS"
BUILTIN_DISTRIBUTION = "metpost"
# metpost's own platforms, in the order they are listed: name -> "module:class".
BUILTIN_PLATFORMS: dict[str, str] = {
    "x": "metpost.platforms.x:XPlatform",
    "facebook": "metpost.platforms.facebook:FacebookPlatform",
    "mastodon": "metpost.platforms.mastodon:MastodonPlatform",
    "bluesky": "metpost.platforms.bluesky:BlueskyPlatform",
    "webhook": "metpost.platforms.webhook:WebhookPlatform",
    "feed": "metpost.platforms.feed:FeedPlatform",
}


@dataclass(frozen=True)
class Provider:
    """The installed package a platform comes from."""

    package: str
    version: str
    builtin: bool


class _Unusable(Exception):
    """An entry point that does not give a usable platform; the message says why."""


class PlatformRegistry(Mapping[str, type[Platform]]):
    """Every installed platform by name, metpost's own first. Looking one up imports its module
    (not its client library); plugins are searched for on the first name that is not built in,
    or when the registry is iterated."""

    def __init__(self) -> None:
        self._builtins: dict[str, type[Platform]] = {}
        self._plugins: dict[str, tuple[type[Platform], EntryPoint]] | None = None
        self._lock = threading.Lock()  # the delivery threads look platforms up too

    def __getitem__(self, name: str) -> type[Platform]:
        if name in BUILTIN_PLATFORMS:
            return self._builtin(name)
        return self._loaded_plugins()[name][0]

    def __contains__(self, name: object) -> bool:
        return name in BUILTIN_PLATFORMS or name in self._loaded_plugins()

    def __iter__(self) -> Iterator[str]:
        yield from BUILTIN_PLATFORMS
        yield from self._loaded_plugins()

    def __len__(self) -> int:
        return len(BUILTIN_PLATFORMS) + len(self._loaded_plugins())

    def plugin_sources(self) -> dict[str, EntryPoint]:
        """The entry point each third-party platform was loaded from, by name."""
        return {name: point for name, (_, point) in self._loaded_plugins().items()}

    def _loaded_plugins(self) -> dict[str, tuple[type[Platform], EntryPoint]]:
        """The third-party platforms and their entry points, by name (looked for once)."""
        with self._lock:
            if self._plugins is None:
                self._plugins = _load_plugins()
            return self._plugins

    def _builtin(self, name: str) -> type[Platform]:
        found = self._builtins.get(name)
        if found is None:
            found = self._builtins[name] = load(BUILTIN_PLATFORMS[name])
        return found


@cache
def platform_classes() -> PlatformRegistry:
    """Every installed platform, by name."""
    return PlatformRegistry()


def platform_providers() -> dict[str, Provider]:
    """The package each loaded platform comes from, by platform name."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        own_version = version(BUILTIN_DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        own_version = ""
    providers = {name: Provider(package=BUILTIN_DISTRIBUTION, version=own_version, builtin=True)
                 for name in BUILTIN_PLATFORMS}
    for platform_name, entry_point in platform_classes().plugin_sources().items():
        dist = entry_point.dist
        name = dist.metadata["Name"] if dist is not None else entry_point.module
        providers[platform_name] = Provider(
            package=name, version=dist.version if dist is not None else "", builtin=False)
    return providers


def _load_plugins() -> dict[str, tuple[type[Platform], EntryPoint]]:
    found: dict[str, tuple[type[Platform], EntryPoint]] = {}
    for entry_point in _wanted_entry_points():
        where = f"platform plugin '{entry_point.name}' ({entry_point.value})"
        if entry_point.name in BUILTIN_PLATFORMS or entry_point.name in found:
            _report(f"{where} has the name of a platform already installed; skipped")
            continue
        try:
            found[entry_point.name] = (_load(entry_point), entry_point)
        except _Unusable as problem:
            _report(f"{where} {problem}; skipped")
    return found


def _wanted_entry_points() -> list[EntryPoint]:
    """The plugins ``$METPOST_PLUGINS`` allows, in the order they are installed. Entry points
    metpost itself once declared (an older install's metadata) are not plugins."""
    from importlib.metadata import entry_points

    allowed = os.environ.get(PLUGINS_ENV)
    names = None if allowed is None else {
        name.strip() for name in allowed.replace(" ", ",").split(",") if name.strip()}
    if names is not None and not names:
        return []
    return [point for point in entry_points(group=ENTRY_POINT_GROUP)
            if not _is_own(point) and (names is None or point.name in names)]


def _is_own(entry_point: EntryPoint) -> bool:
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
