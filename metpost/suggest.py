"""'Did you mean' hints for names a person typed."""

from __future__ import annotations

from collections.abc import Iterable


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate most like ``name`` (ignoring case), or None when nothing is close."""
    import difflib  # only once a name is wrong

    by_folded = {candidate.casefold(): candidate for candidate in candidates}
    match = difflib.get_close_matches(name.casefold(), list(by_folded), n=1, cutoff=0.6)
    return by_folded[match[0]] if match else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """`` — did you mean 'X'?`` when a close candidate exists, else an empty string."""
    match = closest(name, candidates)
    return f" — did you mean '{match}'?" if match else ""
