"""Counting what a person sees as one character: extended grapheme clusters (Unicode UAX #29).

Bluesky limits a post to 300 graphemes, and Mastodon counts its 500 characters in grapheme
clusters (Ruby's ``each_grapheme_cluster``), so ``é`` written as ``e`` and a combining accent is
one, and so is a flag or a family emoji. Python has no segmentation of its own; this follows the
rules that matter for posts: CR LF; combining marks, ZWJ, ZWNJ, variation selectors, emoji
modifiers and tags joining what they follow; Hangul syllables built of jamo; regional-indicator
pairs (flags); and emoji sequences, found as the ``emoji`` package finds them for X's count.

Left out: Prepend characters and Indic conjuncts (Unicode 15.1). Each makes this count one more
than a full segmenter would, so a text at the limit is refused a little early, never sent over it.
"""

from __future__ import annotations

import unicodedata

ZWJ, ZWNJ = "\u200d", "\u200c"
EXTENDING_CATEGORIES = frozenset({"Mn", "Me", "Mc"})
CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cf"})
HANGUL_SYLLABLES = range(0xAC00, 0xD7A4)
JOINS_HANGUL = {  # a Hangul kind -> the kinds that may follow it in one syllable
    "L": frozenset({"L", "V", "LV", "LVT"}),
    "V": frozenset({"V", "T"}),
    "LV": frozenset({"V", "T"}),
    "T": frozenset({"T"}),
    "LVT": frozenset({"T"}),
}


# What shows nothing: whitespace; controls (Cc) and format characters (Cf: U+200B, U+2060,
# U+FEFF...), but for the few format characters that are drawn, which Unicode leaves out of its
# default-ignorable code points (DerivedCoreProperties.txt): the Arabic, Syriac and Kaithi
# number signs and end of ayah that span the digits after them, the interlinear annotation
# marks and the Egyptian hieroglyph controls; and the other default-ignorable code points.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf"})
DRAWN_FORMAT_CHARACTERS = frozenset(
    "\u0600\u0601\u0602\u0603\u0604\u0605\u06dd\u070f\u0890\u0891\u08e2\U000110bd"
    "\U000110cd\ufff9\ufffa\ufffb" + "".join(map(chr, range(0x13430, 0x13440))))
OTHER_INVISIBLE_RANGES = (  # (first, last code point)
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors (and vowel separator)
    (0x2065, 0x2065),  # kept for more invisible operators
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF0, 0xFFF8),  # kept for more format characters
    (0xE0000, 0xE0FFF),  # tags, variation selectors 17 to 256, and room for more
)


def shows_nothing(text: str) -> bool:
    """Whether ``text`` holds nothing a reader would see: only whitespace, controls, format
    characters (U+200B, U+2060, U+FEFF), fillers (U+3164) and variation selectors, or nothing
    at all."""
    return all(_is_invisible(char) for char in text)


def _is_invisible(char: str) -> bool:
    if char.isspace():
        return True
    if unicodedata.category(char) in INVISIBLE_CATEGORIES:
        return char not in DRAWN_FORMAT_CHARACTERS
    point = ord(char)
    return any(first <= point <= last for first, last in OTHER_INVISIBLE_RANGES)


def grapheme_count(text: str) -> int:
    """How many grapheme clusters ``text`` has."""
    if text.isascii():
        return len(text) - text.count("\r\n")
    return len(grapheme_starts(text))


def grapheme_starts(text: str) -> list[int]:
    """The index of each grapheme cluster's first code point: where ``text`` may be cut
    without splitting what a person sees as one character."""
    from emoji import emoji_list

    emoji_ends = {found["match_start"]: found["match_end"] for found in emoji_list(text)}
    starts: list[int] = []
    previous: str | None = None  # the kind of the last character counted
    regional_pair_open = False
    index = 0
    while index < len(text):
        if index in emoji_ends:  # an emoji sequence is one cluster however it is built
            starts.append(index)
            index = emoji_ends[index]
            previous, regional_pair_open = "Emoji", False
            continue
        kind = _kind(text[index])
        if kind == "RI":
            joins = previous == "RI" and regional_pair_open
            regional_pair_open = not joins
        else:
            joins = _joins(previous, kind)
            regional_pair_open = False
        if not joins:
            starts.append(index)
        previous = kind
        index += 1
    return starts


def _kind(char: str) -> str:
    """The character's grapheme-break kind, as far as these rules need one."""
    point = ord(char)
    if char in "\r\n":
        return char
    if char in (ZWJ, ZWNJ) or 0x1F3FB <= point <= 0x1F3FF or 0xE0020 <= point <= 0xE007F:
        return "Extend"
    if 0x1F1E6 <= point <= 0x1F1FF:
        return "RI"
    category = unicodedata.category(char)
    if category in EXTENDING_CATEGORIES:
        return "Extend"
    if category in CONTROL_CATEGORIES:
        return "Control"
    return _hangul_kind(point) or "Other"


def _hangul_kind(point: int) -> str | None:
    if 0x1100 <= point <= 0x115F or 0xA960 <= point <= 0xA97C:
        return "L"
    if 0x1160 <= point <= 0x11A7 or 0xD7B0 <= point <= 0xD7C6:
        return "V"
    if 0x11A8 <= point <= 0x11FF or 0xD7CB <= point <= 0xD7FB:
        return "T"
    if point in HANGUL_SYLLABLES:
        return "LV" if (point - HANGUL_SYLLABLES.start) % 28 == 0 else "LVT"
    return None


def _joins(previous: str | None, kind: str) -> bool:
    """Whether a character of ``kind`` continues the cluster that ended with ``previous``."""
    if previous is None:
        return False
    if previous == "\r":
        return kind == "\n"
    if previous in ("Control", "\n") or kind in ("Control", "\r", "\n"):
        return False
    if kind == "Extend":
        return True
    return kind in JOINS_HANGUL.get(previous, ())
