"""Platform text rules as pure functions: X's weighted length.

X counts a post the way the twitter-text library's configuration v3 says: text is NFC-normalised;
every URL counts as 23 however long it is; every emoji sequence (ZWJ families, skin tones,
keycaps, flags) counts 2; each other character counts by its UTF-16 code unit's range — 1 for
Latin, general punctuation and the like, 2 for everything else (CJK, most non-Latin scripts).
The limit is 280. Positions in ``TweetLength`` are UTF-16 indices, as twitter-text reports them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# twitter-text config/v3.json
X_MAX_WEIGHTED_LENGTH = 280
SCALE = 100
DEFAULT_WEIGHT = 200
TRANSFORMED_URL_LENGTH = 23
WEIGHT_RANGES = (  # inclusive UTF-16 code unit ranges that weigh 100 (count 1)
    (0, 4351, 100),
    (8192, 8205, 100),
    (8208, 8223, 100),
    (8242, 8247, 100),
)
INVALID_CHARACTERS = frozenset("\ufffe\ufeff\uffff")

MAX_DOMAIN_LABEL_LENGTH = 63  # after IDNA (punycode) encoding, "xn--" included
MAX_DOMAIN_LENGTH = 253

# Generic top-level domains a link without "http(s)://" may end in. Any two-letter ASCII TLD is
# taken as a country code. Links with a protocol may use any alphabetic TLD, IDN ones included.
GENERIC_TLDS = frozenset((
    "aero", "app", "art", "asia", "biz", "blog", "cat", "club", "com", "coop", "dev", "edu",
    "email", "gov", "info", "int", "jobs", "london", "mil", "mobi", "museum", "name", "net",
    "news", "nhs", "online", "org", "police", "post", "pro", "scot", "shop", "site", "store",
    "tech", "tel", "travel", "wales", "xxx", "xyz",
))

_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
URL_CANDIDATE = re.compile(
    r"(?<![\w@$#.\-/:])"  # not glued to a word, mention, hashtag or another URL
    r"(?P<url>(?P<protocol>https?://)?"
    rf"(?P<host>(?:{_LABEL}\.)+(?P<tld>[^\W\d_]{{2,}}))"
    r"(?::\d{1,5})?"
    r"(?:/[\w!*';:=+,.$/%#\[\]\-\u2013~&|@()]*)?"
    r"(?:\?[\w!?*'();:&=+$/%#\[\]\-.,~|@]*)?)",
    re.IGNORECASE,
)
# Punctuation that ends a sentence rather than a URL.
TRAILING_PUNCTUATION = ".,:;!?'\"*"


@dataclass(frozen=True)
class TweetLength:
    """X's verdict on a text, as twitter-text's parseTweet gives it."""

    weighted_length: int
    valid: bool
    permillage: int
    display_range: tuple[int, int]  # UTF-16 indices, inclusive
    valid_range: tuple[int, int]


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _trim_url(url: str) -> str:
    """Drop sentence punctuation and unbalanced closing brackets from the end of a URL."""
    while url:
        unbalanced = url[-1] == ")" and url.count("(") < url.count(")")
        if url[-1] in TRAILING_PUNCTUATION or unbalanced:
            url = url[:-1]
        else:
            break
    return url


def _valid_host(host: str, tld: str, has_protocol: bool) -> bool:
    if not has_protocol and not (host.isascii() and
                                 (len(tld) == 2 or tld.lower() in GENERIC_TLDS)):
        return False
    try:
        labels = [label.encode("idna").decode("ascii") if not label.isascii() else label
                  for label in host.split(".")]
    except UnicodeError:
        return False
    return (all(0 < len(label) <= MAX_DOMAIN_LABEL_LENGTH for label in labels)
            and len(".".join(labels)) <= MAX_DOMAIN_LENGTH)


def url_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) code point offsets of the URLs X would shorten to 23 characters."""
    spans = []
    for match in URL_CANDIDATE.finditer(text):
        url = _trim_url(match.group("url"))
        host = match.group("host")
        if len(url) < len(match.group("protocol") or "") + len(host):
            continue
        if _valid_host(host, match.group("tld"), bool(match.group("protocol"))):
            spans.append((match.start("url"), match.start("url") + len(url)))
    return spans


def emoji_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) code point offsets of emoji sequences, each counted as one emoji."""
    import emoji

    return [(item["match_start"], item["match_end"]) for item in emoji.emoji_list(text)]


def _char_weight(code_unit: int) -> int:
    for start, end, weight in WEIGHT_RANGES:
        if start <= code_unit <= end:
            return weight
    return DEFAULT_WEIGHT


def parse_tweet(text: str) -> TweetLength:
    """Weigh ``text`` as X does and say whether it may be posted."""
    normalized = unicodedata.normalize("NFC", text)
    starts: dict[int, tuple[int, int]] = {}  # code point start -> (end, weight of the span)
    for start, end in emoji_spans(normalized):
        starts[start] = (end, DEFAULT_WEIGHT)
    for start, end in url_spans(normalized):  # a URL wins over an emoji inside it
        starts[start] = (end, TRANSFORMED_URL_LENGTH * SCALE)

    weighted = 0
    valid = True
    unit_index = -1  # UTF-16 index of the last code unit consumed
    valid_index = 0
    index = 0
    while index < len(normalized):
        if index in starts:
            end, weight = starts[index]
            weighted += weight
            unit_index += _utf16_len(normalized[index:end])
            last_char = normalized[end - 1]
            index = end
        else:
            char = normalized[index]
            units = _utf16_len(char)
            # twitter-text weighs the last UTF-16 unit of the character: a low surrogate for
            # characters beyond the BMP, which falls in no range and so weighs the default.
            weighted += _char_weight(0xDC00 if units == 2 else ord(char))
            unit_index += units
            last_char = char
            index += 1
        if valid:
            valid = last_char not in INVALID_CHARACTERS
        if valid and weighted <= X_MAX_WEIGHTED_LENGTH * SCALE:
            valid_index = unit_index

    length = weighted // SCALE
    offset = _utf16_len(text) - _utf16_len(normalized)
    return TweetLength(
        weighted_length=length,
        valid=valid and 0 < length <= X_MAX_WEIGHTED_LENGTH,
        permillage=length * 1000 // X_MAX_WEIGHTED_LENGTH,
        display_range=(0, _utf16_len(normalized) + offset - 1),
        valid_range=(0, valid_index + offset),
    )


def weighted_length(text: str) -> int:
    """X's weighted length of ``text`` (limit: ``X_MAX_WEIGHTED_LENGTH``)."""
    return parse_tweet(text).weighted_length
