"""Choose accounts from the config by borough, personality, tag, name and platform.

Only live accounts are posted to: a planned or paused account (``status:`` in accounts.yaml) that
a borough, personality, tag or ``--all`` reaches is skipped and reported as skipped, and naming
one with ``--account`` is an error that says its status.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from metpost.errors import SelectionError
from metpost.models import Account, Config
from metpost.suggest import did_you_mean

# Other names people use for a platform.
PLATFORM_ALIASES = {"twitter": "x", "fb": "facebook"}


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
             problems: list[str], *, listing: bool = False) -> set[str]:
    """Map typed names to their canonical spelling; unknown ones become problems (``listing``:
    naming every known one, for short lists such as platforms). ``known`` is read only when
    a name is wanted: for platforms, listing them all looks through installed plugins."""
    if not wanted:
        return set()
    by_folded = {_folded(name): name for name in known}
    resolved = set()
    for name in wanted:
        canonical = by_folded.get(_folded(name))
        if canonical is None:
            known_list = f" (known: {', '.join(sorted(by_folded.values()))})" if listing else ""
            candidates = [*by_folded.values(), *(PLATFORM_ALIASES if listing else ())]
            problems.append(f"unknown {kind} '{name}'{did_you_mean(name, candidates)}"
                            f"{known_list}")
        else:
            resolved.add(canonical)
    return resolved


def _folded(name: str) -> str:
    """A name as typed or as written in the config, compared: case folded and in one Unicode
    form (a Mac may type "ü" as "u" and a combining diaeresis)."""
    import unicodedata

    return unicodedata.normalize("NFC", name).casefold()


@dataclass(frozen=True)
class Chosen:
    """What a selection reaches: the live accounts to post to, and the planned or paused ones
    it would have reached (skipped), each in config order."""

    accounts: list[Account]
    skipped: list[Account]


def select_accounts(config: Config, selection: Selection,
                    known_platforms: Iterable[str]) -> list[Account]:
    """The chosen live accounts in config order; raises SelectionError naming every bad name."""
    return choose_accounts(config, selection, known_platforms).accounts


def choose_accounts(config: Config, selection: Selection, known_platforms: Iterable[str], *,
                    include_inactive: bool = False) -> Chosen:
    """The chosen accounts, live ones apart from skipped ones; raises SelectionError naming
    every bad name. ``include_inactive`` takes planned and paused accounts as if live (to
    list or verify them)."""
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
    wanted_platforms = [PLATFORM_ALIASES.get(name.casefold(), name) for name in selection.platforms]
    platforms = _resolve("platform", wanted_platforms, known_platforms, problems,
                         listing=True)
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
    inactive = [] if include_inactive else [
        account for account in chosen if not account.live and account.name in names]
    if inactive:
        raise SelectionError(*(
            f"account '{account.name}' is {account.status} ({config.path}:{account.line}); "
            "set its status: live in the config to post from it" for account in inactive))
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
    live = [account for account in chosen if include_inactive or account.live]
    skipped = [account for account in chosen if not (include_inactive or account.live)]
    if not live:
        names_skipped = ", ".join(f"{a.name} ({a.status})" for a in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        raise SelectionError(f"the selection reaches no live account{on}: it reaches only "
                             f"{names_skipped}{more}; see metpost accounts list")
    return Chosen(accounts=live, skipped=skipped)
