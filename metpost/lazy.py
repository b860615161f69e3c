"""Names a package offers but loads only on first use, to keep a command's start-up short.

A package lists where each name lives and hands ``lazy_attributes`` its namespace; the function
returned is the package's ``__getattr__`` (PEP 562). A name is imported when first looked up
and then kept in the namespace, so later look-ups cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from importlib import import_module
from typing import Any


def load(target: str) -> Any:
    """The object ``target`` names, as ``"package.module:attribute"``."""
    module, _, attribute = target.partition(":")
    return getattr(import_module(module), attribute)


def lazy_attributes(namespace: MutableMapping[str, Any],
                    where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for the names in ``where`` (name -> "package.module:attribute")."""

    def __getattr__(name: str) -> Any:
        target = where.get(name)
        if target is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = namespace[name] = load(target)
        return value

    return __getattr__
