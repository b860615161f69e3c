"""Find platform clients: built-in and third-party alike register in one entry-point group.

A package adds a platform by declaring, in its pyproject.toml::

    [project.entry-points."metpost.platforms"]
    mastodon = "metpost_mastodon:MastodonPlatform"

The class must subclass ``metpost.platforms.api.Platform`` and its ``name`` must match the
entry point's name.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from metpost.errors import MetpostError
from metpost.platforms.api import Platform

ENTRY_POINT_GROUP = "metpost.platforms"


@cache
def platform_classes() -> dict[str, type[Platform]]:
    """Every installed platform, by name. Loading one imports its module, not its client library."""
    found: dict[str, type[Platform]] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        where = f"platform plugin '{entry_point.name}' ({entry_point.value})"
        try:
            loaded = entry_point.load()
        except Exception as error:  # a broken plugin must not hide behind a traceback
            raise MetpostError(f"{where} failed to load: {error}; reinstall or remove it") from None
        if not (isinstance(loaded, type) and issubclass(loaded, Platform)):
            raise MetpostError(f"{where} is not a metpost Platform subclass; fix the plugin")
        if loaded.name != entry_point.name:
            raise MetpostError(f"{where} calls itself '{loaded.name}'; the names must match")
        found.setdefault(entry_point.name, loaded)
    if not found:
        raise MetpostError("no platforms are registered: metpost is not installed as a package; "
                           "run pip install -e . in the project")
    return found
