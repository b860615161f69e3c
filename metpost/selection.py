"""Choose accounts from the config by borough, personality, tag, name and platform."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from metpost.errors import SelectionError
from metpost.models import Account, Config
from metpost.suggest import did_you_mean


@dataclass(frozen=True)
class Selection:
    """What a person asked for. Accounts matching any selector are chosen, then narrowed by
    platform. Names match case-insensitively."""

    boroughs: tuple[str, ...] = ()
    personalities: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    all: bool = False
    platforms: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing was asked for (platform alone narrows, it doesn't select)."""
        return not (self.boroughs or self.personalities or self.tags or self.accounts or self.all)


def _resolve(kind: str, wanted: Iterable[str], known: Iterable[str],
             problems: list[str]) -> set[str]:
    """Map typed names to their canonical spelling; unknown ones become problems."""
    by_folded = {name.casefold(): name for name in known}
    resolved = set()
    for name in wanted:
        canonical = by_folded.get(name.casefold())
        if canonical is None:
            problems.append(f"unknown {kind} '{name}'{did_you_mean(name, by_folded.values())}")
        else:
            resolved.add(canonical)
    return resolved


def select_accounts(config: Config, selection: Selection,
                    known_platforms: Iterable[str]) -> list[Account]:
    """The chosen accounts in config order; raises SelectionError naming every bad name."""
    if selection.empty:
        raise SelectionError("nothing selected: choose accounts with --borough, --personality, "
                             "--tag, --account or --all")
    problems: list[str] = []
    accounts = config.accounts
    boroughs = _resolve("borough", selection.boroughs, config.boroughs, problems)
    personalities = _resolve("personality", selection.personalities, config.personalities,
                             problems)
    tags = _resolve("tag", selection.tags, {tag for a in accounts for tag in a.tags}, problems)
    names = _resolve("account", selection.accounts, (a.name for a in accounts), problems)
    platforms = _resolve("platform", selection.platforms, known_platforms, problems)
    if problems:
        raise SelectionError(*problems)

    chosen = [
        account for account in accounts
        if selection.all
        or account.borough in boroughs
        or account.personality in personalities
        or tags.intersection(account.tags)
        or account.name in names
    ]
    if platforms:
        chosen = [account for account in chosen if account.platform in platforms]
    # Every name given must reach someone: a borough left out in silence is a message not sent.
    on = f" on {', '.join(sorted(platforms))}" if platforms else ""
    problems = [
        f"account '{name}' is not{on}" if kind == "account"
        else f"{kind} '{name}' has no account{on}; see metpost accounts list"
        for kind, wanted, matches in (
            ("borough", boroughs, lambda a, n: a.borough == n),
            ("personality", personalities, lambda a, n: a.personality == n),
            ("tag", tags, lambda a, n: n in a.tags),
            ("account", names, lambda a, n: a.name == n),
        )
        for name in sorted(wanted)
        if not any(matches(account, name) for account in chosen)
    ]
    if problems:
        raise SelectionError(*problems)
    if not chosen:
        raise SelectionError(f"the selection matches no account{on}; see metpost accounts list")
    return chosen
