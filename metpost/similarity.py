"""X's rule against the same content on many accounts: finding the posts it is about.

X's Developer Policy says "Never post identical or substantially similar content across multiple
accounts" (https://docs.x.com/developer-terms/policy, "Spam, bots, and automation"). Within one
broadcast, X posts are grouped when their texts are the same, or the same once each account's
own values are masked: its borough's name and command unit, its handle and name, its
personality's name and signature, and its template variables. "Hackney: roads reopen at 6pm."
and "Camden: roads reopen at 6pm." are one group. Texts that differ in more than those values
are not grouped; whether X would still call them "substantially similar" is X's judgement.

Pure functions: posts and the config in, groups out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from metpost.models import Account, Config, Post
from metpost.platforms.api import comparable_text

X_PLATFORM = "x"
MASK = "\x00"


@dataclass(frozen=True)
class SimilarGroup:
    """X posts of one broadcast that X's rule would count as the same content."""

    accounts: tuple[str, ...]
    identical: bool  # the very same text; else the same once each account's values are masked

    def describe(self) -> str:
        """One line for a person."""
        how = ("identical texts" if self.identical else
               "texts identical once each account's own values (borough, handle, command unit, "
               "personality, account vars) are masked")
        return f"X posts on {len(self.accounts)} accounts ({', '.join(self.accounts)}): {how}"


def own_values(account: Account, config: Config) -> list[str]:
    """What is particular to ``account`` in a text rendered for it, longest first."""
    values = [account.name, account.handle or "", (account.handle or "").lstrip("@"),
              *account.vars.values()]
    if account.borough:
        borough = config.boroughs[account.borough]
        values += [borough.name, borough.bcu]
    if account.personality:
        personality = config.personalities[account.personality]
        values += [personality.key, personality.display, personality.signature]
    return sorted({value for value in values if value.strip()}, key=len, reverse=True)


def masked_text(text: str, values: Iterable[str]) -> str:
    """``text`` with every whole-word occurrence of ``values`` (any case) replaced by a mask."""
    masked = comparable_text(text)
    folded = masked.casefold()
    for value in values:
        needle = comparable_text(value)
        # Most of an account's values (its name, its handle) are not in its text: a plain
        # containment test spares compiling a pattern for each, across thousands of accounts.
        if needle.casefold() not in folded:
            continue
        masked = _whole_word(needle).sub(MASK, masked)
        folded = masked.casefold()
    return masked


@lru_cache(maxsize=4096)
def _whole_word(value: str) -> re.Pattern[str]:
    # A value that starts or ends with a letter or digit must stand as a word there, so "CE",
    # a command unit, is not found inside "POLICE".
    before = r"(?<!\w)" if re.match(r"\w", value) else ""
    after = r"(?!\w)" if re.search(r"\w$", value) else ""
    return re.compile(before + re.escape(value) + after, re.IGNORECASE)


def similar_x_groups(posts: Sequence[Post], config: Config) -> list[SimilarGroup]:
    """Groups of two or more X posts (not reposts) in one broadcast with the same content."""
    by_masked: dict[str, list[Post]] = {}
    for post in posts:
        if post.account.platform != X_PLATFORM or post.repost_of is not None:
            continue
        key = masked_text(post.text, own_values(post.account, config))
        by_masked.setdefault(key, []).append(post)
    groups = []
    for members in by_masked.values():
        if len(members) < 2:
            continue
        texts = {comparable_text(post.text) for post in members}
        groups.append(SimilarGroup(accounts=tuple(post.account.name for post in members),
                                   identical=len(texts) == 1))
    return groups
