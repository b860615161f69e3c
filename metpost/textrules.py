"""Platform text rules as pure functions: X's weighted length.

X counts a post the way the twitter-text library does with its configuration v3. The text is
NFC-normalised, then weighed piece by piece: a URL counts ``TRANSFORMED_URL_LENGTH`` (23) however
long it is; an emoji sequence (ZWJ family, skin tone, keycap, flag) counts ``DEFAULT_WEIGHT``;
any other character counts by its code point: 1 if it falls in one of ``WEIGHT_RANGES`` (Latin,
general punctuation and the like), 2 otherwise (CJK, most other scripts, emoji). The limit is
``X_MAX_WEIGHTED_LENGTH``. Ranges in ``TweetLength`` are UTF-16 indices, as twitter-text reports.

The rules were read from twitter-text (github.com/twitter/twitter-text, commit 30e2430:
config/v3.json, the Java Regex, Extractor and TwitterTextParser classes, js/src/parseTweet.js)
and re-expressed here. Its conformance cases are in tests/data/.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from metpost.tlds import COUNTRY_TLDS, GENERIC_TLDS

__all__ = ["X_MAX_WEIGHTED_LENGTH", "TweetLength", "parse_tweet", "weighted_length"]

# ---- twitter-text configuration v3 (config/v3.json) --------------------------------------------
X_MAX_WEIGHTED_LENGTH = 280
SCALE = 100  # weights are in hundredths of a character
DEFAULT_WEIGHT = 200  # any code point outside WEIGHT_RANGES, and every emoji sequence
WEIGHT_RANGES: tuple[tuple[int, int, int], ...] = (  # (first, last code point, weight)
    (0x0000, 0x10FF, 100),  # Latin, Greek, Cyrillic, Hebrew, Arabic, Indic, Thai, Georgian...
    (0x2000, 0x200D, 100),  # spaces, zero-width space, (non-)joiner
    (0x2010, 0x201F, 100),  # hyphens, dashes, quotation marks
    (0x2032, 0x2037, 100),  # primes
)
TRANSFORMED_URL_LENGTH = 23  # every URL becomes a t.co link this long
EMOJI_PARSING_ENABLED = True

# ---- other rules of twitter-text ---------------------------------------------------------------
INVALID_CHARACTERS = frozenset("\ufffe\ufeff\uffff")  # a text containing one is not valid
# © ® ™ on their own are text, not emoji (they are one only with U+FE0F after them).
TEXT_STYLE_SYMBOLS = frozenset("\u00a9\u00ae\u2122")
MAX_URL_LENGTH = 4096  # longer URLs (host in punycode, protocol included) are not links
DEFAULT_PROTOCOL = "https://"  # what a URL without protocol is assumed to have, for that limit
MAX_TCO_SLUG_LENGTH = 40  # a t.co link whose slug is longer is not a link
NO_PROTOCOL_BAD_PRECEDING = frozenset("-_./")  # "x.y.com": not a link without protocol after these

# ---- URL grammar, after twitter-text's Java Regex class ----------------------------------------
# Character sets, written for use inside [...].
_LATIN_ACCENTS = (
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f"
    "\u0253\u0254\u0256\u0257\u0259\u025b\u0263\u0268\u026f\u0272\u0289\u028b\u02bb"
    "\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"
_HOST_CHARS = "a-z0-9" + _LATIN_ACCENTS  # a host's labels: Latin letters and digits
# Right after http(s)://, one label before the TLD may be in any script: anything but ASCII
# punctuation other than "-", spaces, separators and the General Punctuation block.
_NOT_UNICODE_HOST_CHARS = r"!-,./:-@\[-`{-~\s\xa0\u1680\u2000-\u206f\u3000"
_PATH_CHARS = r"a-z0-9!*';:=+,.$/%#\[\]\-\u2013_~|&@" + _LATIN_ACCENTS + _CYRILLIC
_PATH_END_CHARS = r"a-z0-9=_#/\-+" + _LATIN_ACCENTS + _CYRILLIC  # "/foo." leaves out the "."
_QUERY = r"\?[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@]*[a-z0-9\-_&=#/]"

_SUBDOMAIN = rf"(?>(?:[{_HOST_CHARS}][{_HOST_CHARS}_-]*)?[{_HOST_CHARS}]\.)"
_DOMAIN = rf"(?:[{_HOST_CHARS}][{_HOST_CHARS}-]*)?[{_HOST_CHARS}]\."
_UNICODE_DOMAIN = (
    rf"[^{_NOT_UNICODE_HOST_CHARS}-](?:[^{_NOT_UNICODE_HOST_CHARS}]*[^{_NOT_UNICODE_HOST_CHARS}-])?\."
)
_PARENS = rf"\((?:[{_PATH_CHARS}]+|[{_PATH_CHARS}]*\([{_PATH_CHARS}]+\)[{_PATH_CHARS}]*)\)"
_PATH_PART = (
    rf"[{_PATH_CHARS}]*(?:{_PARENS}[{_PATH_CHARS}]*)*(?:[{_PATH_END_CHARS}]|{_PARENS})"
    rf"|@[{_PATH_CHARS}]+/"
)
_FLAGS = re.IGNORECASE | re.ASCII  # case-insensitive for ASCII only, as twitter-text's Java


def _longest_first(words: Iterable[str]) -> str:
    """A regex for any of ``words``, preferring the longest, written as a trie ("c(?:om?|at)")
    so that a failed attempt costs a character or two rather than a try of every word."""
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def pattern(node: dict[str, dict]) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in node.items() if char]
        if not branches:
            return ""
        either = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        return f"(?:{either})?" if "" in node else either

    return pattern(trie)


@cache
def _url_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The URL and t.co patterns, compiled on first use (the TLD list makes them large)."""
    # A TLD must not run on into letters or digits: "example.community" is not "example.com".
    tld = rf"(?:{_longest_first(GENERIC_TLDS | COUNTRY_TLDS)})(?=[^a-z0-9@+-]|$)"
    host = (
        rf"{_SUBDOMAIN}*{_DOMAIN}(?:{tld}|xn--[a-z0-9-]+)"  # www.met.police.uk
        rf"|(?:(?<=http://)|(?<=https://)){_UNICODE_DOMAIN}{tld}"  # https://例え.jp
    )
    url = re.compile(
        # A URL follows the start or anything but a letter, digit, @, $, # or an invalid
        # character; that character is consumed, so two URLs never share it.
        r"(?P<before>[^a-z0-9@$#\uff20\uff03\ufffe\ufeff\uffff]|^)"
        rf"(?P<url>(?P<protocol>https?://)?(?P<host>{host})"
        rf"(?::[0-9]++)?(?:/(?:{_PATH_PART})*+)?(?:{_QUERY})?)",
        _FLAGS,
    )
    tco = re.compile(rf"https?://t\.co/([a-z0-9]+)(?:{_QUERY})?", _FLAGS)
    return url, tco


@dataclass(frozen=True)
class TweetLength:
    """What X (twitter-text's ``parseTweet``) says of a text.

    ``permillage`` is the weighted length in thousandths of the limit. ``display_range`` spans
    the whole text and ``valid_range`` the part that fits the limit, as inclusive
    (first, last) UTF-16 indices of the text as given, as twitter-text reports them.
    """

    weighted_length: int
    valid: bool
    permillage: int
    display_range: tuple[int, int]
    valid_range: tuple[int, int]


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _link_fits(url: str, host: str, has_protocol: bool) -> bool:
    """Whether the host converts to ASCII (IDNA, each label 1 to 63 characters in punycode)
    and the URL, with that host and a protocol, is at most ``MAX_URL_LENGTH`` long."""
    try:
        ascii_host = host.encode("idna")
    except UnicodeError:
        return False
    length = _utf16_len(url) - _utf16_len(host) + len(ascii_host)
    if not has_protocol:
        length += len(DEFAULT_PROTOCOL)
    return length <= MAX_URL_LENGTH


def _url_spans(text: str) -> dict[int, int]:
    """{start: end} in code points of each URL that X counts as ``TRANSFORMED_URL_LENGTH``."""
    url_pattern, tco_pattern = _url_patterns()
    spans = {}
    for match in url_pattern.finditer(text):
        protocol = match["protocol"]
        if not protocol and match["before"] in NO_PROTOCOL_BAD_PRECEDING:
            continue
        start, end = match.span("url")
        if protocol and (tco := tco_pattern.match(match["url"])):
            if len(tco[1]) > MAX_TCO_SLUG_LENGTH:
                continue
            end = start + tco.end()  # nothing after a t.co slug but a query string
        if _link_fits(text[start:end], match["host"], bool(protocol)):
            spans[start] = end
    return spans


def _emoji_spans(text: str) -> dict[int, int]:
    """{start: end} in code points of each emoji sequence, which counts as one character."""
    import emoji  # only needed once a text is weighed

    spans = {}
    for found in emoji.emoji_list(text):
        start, end = found["match_start"], found["match_end"]
        if not (end - start == 1 and text[start] in TEXT_STYLE_SYMBOLS):
            spans[start] = end
    return spans


def _char_weight(char: str) -> int:
    code_point = ord(char)
    for first, last, weight in WEIGHT_RANGES:
        if first <= code_point <= last:
            return weight
    return DEFAULT_WEIGHT


def parse_tweet(text: str) -> TweetLength:
    """Weigh ``text`` as X does and say whether it may be posted."""
    normalized = unicodedata.normalize("NFC", text)
    urls = _url_spans(normalized)
    emojis = _emoji_spans(normalized) if EMOJI_PARSING_ENABLED else {}

    weighted = 0  # in hundredths
    valid = True  # no invalid character so far
    last_unit = -1  # UTF-16 index of the last code unit weighed
    valid_end = 0  # UTF-16 index of the last code unit within the limit
    index = 0
    while index < len(normalized):
        if index in urls:  # a URL wins over an emoji at the same place
            end, weight = urls[index], TRANSFORMED_URL_LENGTH * SCALE
        elif index in emojis:
            end, weight = emojis[index], DEFAULT_WEIGHT
        else:
            end, weight = index + 1, _char_weight(normalized[index])
        piece = normalized[index:end]
        weighted += weight
        last_unit += _utf16_len(piece)
        valid = valid and INVALID_CHARACTERS.isdisjoint(piece)
        if valid and weighted <= X_MAX_WEIGHTED_LENGTH * SCALE:
            valid_end = last_unit
        index = end

    length = weighted // SCALE
    # twitter-text shifts the valid range by what normalising added or removed, wherever it was.
    offset = _utf16_len(text) - _utf16_len(normalized)
    return TweetLength(
        weighted_length=length,
        valid=valid and 0 < length <= X_MAX_WEIGHTED_LENGTH,
        permillage=length * 1000 // X_MAX_WEIGHTED_LENGTH,
        display_range=(0, max(_utf16_len(text) - 1, 0)),
        valid_range=(0, valid_end + offset),
    )


def weighted_length(text: str) -> int:
    """X's weighted length of ``text``: ``parse_tweet(text).weighted_length``."""
    return parse_tweet(text).weighted_length
