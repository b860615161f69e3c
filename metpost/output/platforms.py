"""The installed platforms (``metpost platforms list``), and warnings about broken plugins."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from metpost.output.base import Mode, echo, emit_json, table

if TYPE_CHECKING:
    from metpost.platforms.api import Capabilities, Platform
    from metpost.plugins import Provider


def platform_record(platform: type[Platform], provider: Provider | None) -> dict[str, Any]:
    """One platform as ``--json`` shows it."""
    return {
        "name": platform.name,
        "title": platform.title,
        "limit": {"max_length": platform.limits.max_length, "unit": platform.limits.unit,
                  "per_account": platform.limit_field},
        "credential_keys": list(platform.credential_keys),
        "optional_credential_keys": list(platform.optional_credential_keys),
        "account_fields": dict(platform.account_fields),
        "capabilities": asdict(platform.capabilities),
        "package": provider.package if provider else None,
        "version": provider.version if provider else None,
        "builtin": provider.builtin if provider else False,
    }


def show_platforms(platforms: Mapping[str, type[Platform]],
                   providers: Mapping[str, Provider], mode: Mode) -> None:
    """Every installed platform: its limit, credentials, what it can do, where it comes from."""
    names = sorted(platforms)
    if mode == "json":
        emit_json({"platforms": [platform_record(platforms[name], providers.get(name))
                                 for name in names]})
        return
    rows = [(name, platforms[name].title, _limit(platforms[name]), _credentials(platforms[name]),
             _abilities(platforms[name].capabilities), _package(providers.get(name)))
            for name in names]
    table(("Name", "Title", "Limit", "Credentials", "Can", "Package"), rows, mode)


def plugin_warning(problem: str) -> None:
    """A platform plugin that was left out, and why: one line on stderr."""
    echo(f"metpost: warning: {problem}", err=True)


def _limit(platform: type[Platform]) -> str:
    limits = platform.limits
    text = f"{limits.max_length:,} {limits.unit}"
    return f"{text} (per account: {platform.limit_field})" if platform.limit_field else text


def _credentials(platform: type[Platform]) -> str:
    keys = [*platform.credential_keys,
            *(f"{key} (optional)" for key in platform.optional_credential_keys)]
    return ", ".join(keys) or "none"


def _abilities(capabilities: Capabilities) -> str:
    abilities = []
    if capabilities.idempotent_publish:
        window = capabilities.idempotency_window
        abilities.append("idempotent" if window is None else
                         f"idempotent for {_duration(window)}")
    if capabilities.can_list_recent:
        abilities.append("list")
    if capabilities.can_delete:
        abilities.append("delete")
    if capabilities.threads:
        abilities.append("threads")
    if capabilities.media:
        abilities.append(f"media ({capabilities.max_media})")
    if capabilities.reposts:
        abilities.append("reposts")
    if capabilities.can_verify:
        abilities.append("verify")
    return ", ".join(abilities) or "post"


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{seconds:g} s"


def _package(provider: Provider | None) -> str:
    if provider is None:
        return ""
    name = f"{provider.package} {provider.version}".strip()
    return f"{name} (built-in)" if provider.builtin else name
