"""A text too long for one post, split into a thread of numbered parts that each fit.

Parts are cut where a reader expects them: between sentences; inside a sentence longer than a
part, between words; inside a word longer than a part (a run of Chinese or Japanese, which
needs no spaces), between the characters a person sees (grapheme clusters), never inside a
link or an emoji. Each part ends in its number, `` 2/3``, and the platform's own check is the
only judge of whether a part fits: X's weighted length (links 23, emoji and CJK 2, from
``metpost.textrules``), Mastodon's count, Bluesky's graphemes and bytes.

Pure functions: no platform is called and nothing is read.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

MAX_PARTS = 25  # more than this is a document, not a thread: refused, not posted
# The end of a sentence: its punctuation, then any closing quotes or brackets.
SENTENCE_END = re.compile("[.!?\u2026]+[\"'\u201d\u2019)\\]\u00bb]*$")
# Chinese and Japanese sentences end in full-width punctuation and need no space after it.
CJK_SENTENCE_END = re.compile("[\u3002\uff01\uff1f]+[\u300d\u300f\u201d\u2019\uff09)]*")
SPACE = re.compile(r"\s+")
LEVELS = ("sentence", "word", "character")


@dataclass(frozen=True, order=True)
class _Cut:
    """A place to end one part (``end``) and begin the next (``resume``, past any space)."""

    end: int
    resume: int


def split_thread(text: str, fits: Callable[[str], bool],
                 max_parts: int = MAX_PARTS) -> list[str] | None:
    """``text`` as the parts of a thread, each passing ``fits`` with its number (``1/3``)
    included; ``[text]`` when it fits whole; None when it cannot be split into at most
    ``max_parts`` parts that fit (a link or a character alone is too long, say)."""
    text = unicodedata.normalize("NFC", text).strip()
    if fits(text):
        return [text]
    cuts = _cuts(text)
    for width in (1, 2):  # parts numbered up to 9, then up to 99
        pieces = _pack(text, cuts, _numbered(fits, "9" * width), max_parts)
        if pieces is None:
            return None
        if len(pieces) < 10 ** width:
            count = len(pieces)
            numbered = [f"{piece} {number}/{count}" for number, piece in
                        enumerate(pieces, start=1)]
            # The real numbers are never wider than the ones the parts were measured with.
            return numbered if all(fits(part) for part in numbered) else None
    return None


def _numbered(fits: Callable[[str], bool], widest: str) -> Callable[[str], bool]:
    """``fits`` for a piece once its widest number (`` 9/9``, `` 99/99``) is added."""
    return lambda piece: fits(f"{piece} {widest}/{widest}")


def _pack(text: str, cuts: dict[str, list[_Cut]], fits: Callable[[str], bool],
          max_parts: int) -> list[str] | None:
    """Fill each part as far as it goes at the best kind of cut that fits."""
    pieces: list[str] = []
    start = 0
    while start < len(text):
        if len(pieces) >= max_parts:
            return None
        rest = text[start:].strip()
        if fits(rest):
            pieces.append(rest)
            break
        cut = _farthest(text, start, cuts, fits)
        if cut is None:
            return None
        pieces.append(text[start:cut.end].strip())
        start = cut.resume
    return pieces


def _farthest(text: str, start: int, cuts: dict[str, list[_Cut]],
              fits: Callable[[str], bool]) -> _Cut | None:
    """The farthest cut after ``start`` whose part fits, trying sentences, then words, then
    characters; a cut between sentences or words that would leave the part less than half
    as long as one cut between characters is passed over (a very long word or sentence
    follows it, and would only move to the next part to be cut there anyway)."""
    found = {level: _farthest_of(text, start, cuts[level], fits) for level in LEVELS}
    finest = found["character"]
    for level in LEVELS:
        cut = found[level]
        if cut is not None and (finest is None or 2 * (cut.end - start) >= finest.end - start):
            return cut
    return finest


def _farthest_of(text: str, start: int, cuts: list[_Cut],
                 fits: Callable[[str], bool]) -> _Cut | None:
    """The farthest of ``cuts`` after ``start`` whose part fits. Longer parts are assumed not
    to fit better than shorter ones, so the cuts are searched by halving; the cut found has
    been checked either way."""
    # A part starts at a character that is not a space, so any cut after it leaves text.
    low, high, best = bisect_right([cut.end for cut in cuts], start), len(cuts) - 1, None
    while low <= high:
        middle = (low + high) // 2
        if fits(text[start:cuts[middle].end].strip()):
            best, low = cuts[middle], middle + 1
        else:
            high = middle - 1
    return best


def _cuts(text: str) -> dict[str, list[_Cut]]:
    """Every place ``text`` may be cut, by kind: between sentences (and lines), between
    words, between characters outside links."""
    from metpost.platforms.graphemes import grapheme_starts
    from metpost.textrules import link_spans

    sentences: list[_Cut] = []
    words: list[_Cut] = []
    for space in SPACE.finditer(text):
        cut = _Cut(space.start(), space.end())
        if "\n" in space.group() or SENTENCE_END.search(text[max(0, space.start() - 8):
                                                              space.start()]):
            sentences.append(cut)
        else:
            words.append(cut)
    for mark in CJK_SENTENCE_END.finditer(text):
        if mark.end() < len(text) and not text[mark.end()].isspace():
            sentences.append(_Cut(mark.end(), mark.end()))
    inside_links = {index for span in link_spans(text)
                    for index in range(span.start + 1, span.end)}
    starts = range(len(text)) if text.isascii() else grapheme_starts(text)
    characters = [_Cut(index, index) for index in starts
                  if index > 0 and index not in inside_links
                  and not text[index].isspace() and not text[index - 1].isspace()]
    return {"sentence": sorted(sentences), "word": words, "character": characters}
