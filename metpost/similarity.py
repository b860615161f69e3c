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
        folded_needle = needle.casefold()
        # Most of an account's values (its name, its handle) are not in its text: a plain
        # containment test spares compiling a pattern for each, across thousands of accounts.
        if folded_needle not in folded:
            continue
        # A value is nearly always in the text as it was written (the template put it there):
        # replaced so, it needs no pattern, and an account's own link or handle, different
        # in every account, would need one compiled for each. Only when the value is still
        # there in some other case (or inside a longer word) does the pattern decide.
        replaced = _mask_as_written(masked, needle)
        if folded_needle in replaced.casefold():
            replaced = _whole_word(needle).sub(MASK, masked)
        masked = replaced
        folded = masked.casefold()
    return masked


def _mask_as_written(text: str, needle: str) -> str:
    """``text`` with each whole-word occurrence of ``needle``, in its own case, masked: as
    ``_whole_word(needle)`` would mask those, without compiling it."""
    word_start, word_end = _word_ends(needle)
    pieces: list[str] = []
    kept = 0  # text[kept:] is not copied yet
    found = text.find(needle)
    while found >= 0:
        end = found + len(needle)
        if (not (word_start and found and _is_word(text[found - 1]))
                and not (word_end and end < len(text) and _is_word(text[end]))):
            pieces += [text[kept:found], MASK]
            kept = end
            found = text.find(needle, end)
        else:
            found = text.find(needle, found + 1)
    return "".join([*pieces, text[kept:]]) if pieces else text


def _is_word(char: str) -> bool:
    """``\\w`` of Python's ``re`` for str: a letter or digit (``str.isalnum``), or "_"."""
    return char.isalnum() or char == "_"


def _word_ends(value: str) -> tuple[bool, bool]:
    """Whether ``value`` must stand as a word at its start, and at its end (see
    ``_whole_word``)."""
    return bool(re.match(r"\w", value)), bool(re.search(r"\w$", value))


@lru_cache(maxsize=4096)
def _whole_word(value: str) -> re.Pattern[str]:
    # A value that starts or ends with a letter or digit must stand as a word there, so "CE",
    # a command unit, is not found inside "POLICE".
    word_start, word_end = _word_ends(value)
    before = r"(?<!\w)" if word_start else ""
    after = r"(?!\w)" if word_end else ""
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
