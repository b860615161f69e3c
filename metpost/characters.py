"""Characters that text shown or posted by metpost must not hold, and how to show them."""

from __future__ import annotations

import re

# Control characters but tab and line feed: C0, DEL and C1 (a NUL, a bell or a terminal's CSI,
# from a template, a --var or an escape in a YAML file, which a platform shows as garbage or
# refuses, and a terminal would act on). A carriage return passes only as half of a Windows line
# end: alone, it sends a terminal's cursor back to overwrite the line being previewed.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")
# Characters that show as nothing but are letters or marks, not Unicode's category C: the
# combining grapheme joiner, the Hangul fillers, variation selectors (Mongolian ones too) and the
# blank Braille pattern. "Al\u034fice" looks like "Alice" and must not pass for someone else.
INVISIBLE = re.compile("[\u034f\u115f\u1160\u17b4\u17b5\u180b-\u180f\u2800\u3164\ufe00-\ufe0f"
                       "\uffa0\U000e0100-\U000e01ef]")
# What a one-line name (a handle, a borough, a tag) may not hold beyond the control characters:
# line breaks and tabs, and the format characters (category Cf: direction marks and overrides,
# zero-width ones), which would reorder or hide what a reviewer reads.
NOT_IN_A_NAME = re.compile("[\t\n\r\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064"
                           "\u2066-\u206f\ufeff]")
# Half a character (a lone UTF-16 surrogate), which no text can be written out with.
SURROGATE = re.compile("[\ud800-\udfff]")


def one_line(text: str) -> str:
    """``text`` with what is not printable escaped (a newline as ``\\n``, a direction override
    as ``\\u202e``), to print on one line: no row, column or line of a listing can be forged."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def holds_control(text: str) -> bool:
    """Whether ``text`` holds a control, format or other invisible character (Unicode's
    category C, or one of ``INVISIBLE``): a name or one-line reason may not."""
    import unicodedata

    return INVISIBLE.search(text) is not None or any(
        unicodedata.category(char).startswith("C") for char in text)
