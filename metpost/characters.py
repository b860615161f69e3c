"""Characters that text shown or posted by metpost must not hold, and how to show them."""

from __future__ import annotations

import re

# Control characters but tab, line feed and carriage return: C0, DEL and C1 (a NUL, a bell or a
# terminal's CSI, from a template, a --var or an escape in a YAML file, which a platform shows
# as garbage or refuses, and a terminal would act on).
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
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
    category C): a name or one-line reason may not."""
    import unicodedata

    return any(unicodedata.category(char).startswith("C") for char in text)
