"""Platform text rules as pure functions: X's weighted length, and the links X would shorten.

X counts a post the way the twitter-text library does with its configuration v3. The text is
NFC-normalised, then weighed piece by piece: a URL counts ``TRANSFORMED_URL_LENGTH`` (23) however
long it is; an emoji sequence (ZWJ family, skin tone, keycap, flag) counts ``DEFAULT_WEIGHT``;
any other character counts by its code point: 1 if it falls in one of ``WEIGHT_RANGES`` (Latin,
general punctuation and the like), 2 otherwise (CJK, most other scripts, emoji). The limit is
``X_MAX_WEIGHTED_LENGTH``. Ranges in ``TweetLength`` are UTF-16 indices, as twitter-text reports.

The rules were read from twitter-text (github.com/twitter/twitter-text, commit 30e2430):
config/v3.json, js/src/parseTweet.js, js/src/extractUrlsWithIndices.js, js/src/lib/idna.js and
the patterns in js/src/regexp/, and re-expressed here; where the JavaScript and the Java library
differ on which text is a link, this module follows the JavaScript. Emoji sequences are today's
Unicode list (the ``emoji`` package), which twitter-text's generated patterns track. The official
conformance cases are in tests/data/.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache

from metpost.tlds import COUNTRY_TLDS, GENERIC_TLDS

__all__ = [
    "X_MAX_WEIGHTED_LENGTH",
    "LinkSpan",
    "TweetLength",
    "invalid_characters",
    "link_spans",
    "parse_tweet",
    "weighted_length",
]

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
# © and ® on their own are text that weighs 1, not emoji (one only with U+FE0F after them); so
# is ™, which weighs 2 either way.
TEXT_STYLE_SYMBOLS = frozenset("\u00a9\u00ae\u2122")
MAX_URL_LENGTH = 4096  # a longer URL (protocol, or DEFAULT_PROTOCOL, included) is not a link
DEFAULT_PROTOCOL = "https://"  # what a URL without protocol is assumed to have, for that limit
MAX_TCO_SLUG_LENGTH = 40  # a t.co link whose slug is longer is not a link
NO_PROTOCOL_BAD_PRECEDING = frozenset("-_./")  # "x.y.com": not a link without protocol after these
MAX_LABEL_LENGTH = 63  # a host's label, in punycode, is 1 to 63 characters long
# A label's non-ASCII parts are punycoded at these dots as well as at ".".
IDEOGRAPHIC_DOTS = "\u3002\uff0e\uff61"


@dataclass(frozen=True)
class LinkSpan:
    """A URL that X counts as a link (and shortens to a t.co link).

    ``start`` and ``end`` are code-point indices into the NFC-normalised text
    (``unicodedata.normalize("NFC", text)``), and ``url`` is that slice of it, as written:
    with or without protocol.
    """

    start: int
    end: int
    url: str


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


# ---- URL grammar, after twitter-text's js/src/regexp/ -------------------------------------------
# Character sets, written for use inside [...].
def _class_body(chars: Iterable[str]) -> str:
    return "".join(re.escape(char) for char in chars)


# twitter-text's punctuation: ASCII punctuation except '"' and '`', which may be part of a host.
_PUNCTUATION = "!#$%&'()*+,-./:;<=>?@[\\]^_{|}~"
_SPACES = "\t-\r \x85\xa0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_INVALID = "\ufffe\ufeff\uffff"
_DIRECTIONAL = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_NOT_HOST = _SPACES + _INVALID + _DIRECTIONAL  # never in a host, nor punctuation


def _host_chars(*allowed_punctuation: str) -> str:
    """A class of the characters a host label may hold: anything but spaces, invalid and
    directional characters and punctuation, except ``allowed_punctuation``."""
    punctuation = (char for char in _PUNCTUATION if char not in allowed_punctuation)
    return f"[^{_class_body(punctuation)}{_NOT_HOST}]"


_HOST_CHAR = _host_chars()  # the first and last character of a label
_LABEL_CHAR = _host_chars("-", "_")  # any character of a label: a host character, "-" or "_"
# A host's labels as twitter-text writes them (the tests' one-regex reference), which
# _UrlFinder follows label by label: a domain name holds no "_".
_SUBDOMAIN = rf"{_HOST_CHAR}(?:{_LABEL_CHAR}*{_HOST_CHAR})?\."
_DOMAIN_NAME = rf"{_HOST_CHAR}(?:{_host_chars('-')}*{_HOST_CHAR})?\."
_HOST_RUN = _host_chars("-", "_", ".")  # a run of these holds any host: it is where to look

_LATIN_ACCENTS = (
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f"
    "\u0253\u0254\u0256\u0257\u0259\u025b\u0263\u0268\u026f\u0272\u0289\u028b\u02bb"
    "\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"
_ASCII_PATH_CHARS = r"a-z0-9!*';:=+,.$/%#\[\]\-_~@|&"
_ASCII_PATH_END_CHARS = r"+\-a-z0-9=_#/"  # "/foo." leaves out the "."
_PATH_CHARS = _ASCII_PATH_CHARS + "\u2013" + _LATIN_ACCENTS + _CYRILLIC
_PATH_END_CHARS = _ASCII_PATH_END_CHARS + _LATIN_ACCENTS + _CYRILLIC


def _path_segment(chars: str, end_chars: str) -> str:
    """One segment of a URL's path, of these characters, ending in one of ``end_chars``.

    twitter-text writes a segment as "chars, balanced parentheses, an ending character", but
    splices in the ending as "[chars]|(parens)" ungrouped, so a segment is one of three forms:
    "/a.(b)" is a link up to "/a" only. Reproduced as X counts it."""
    parens = rf"\((?:[{chars}]+|[{chars}]*\([{chars}]+\)[{chars}]*)\)"
    return rf"[{chars}]*(?:{parens}[{chars}]*)*[{end_chars}]|{parens}|@[{chars}]+/"


_PATH_SEGMENT = _path_segment(_PATH_CHARS, _PATH_END_CHARS)
_ASCII_PATH_SEGMENT_ANY_CASE = _path_segment("A-Z" + _ASCII_PATH_CHARS,
                                             "A-Z" + _ASCII_PATH_END_CHARS)
_QUERY = r"\?[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]*[a-z0-9\-_&=#/]"
_ASCII_QUERY_ANY_CASE = _QUERY.replace("[a-z", "[A-Za-z")

# twitter-text matches case-insensitively in JavaScript's way, where a non-ASCII character never
# matches an ASCII one; Python lets dotless i (U+0131) and dotted I (U+0130) match "i", and long s
# (U+017F) match "s" (the Kelvin sign too, but NFC has made it a "K"), so for matching only they
# become U+0100, which like them is a Latin letter with accent and matches nothing ASCII.
_ASCII_LOOKALIKES = {"\u0130": "\u0100", "\u0131": "\u0100", "\u017f": "\u0100"}
_WITHOUT_ASCII_LOOKALIKES = {ord(char): stand_in for char, stand_in in _ASCII_LOOKALIKES.items()}


# A TLD is looked up in a set rather than matched by one regex alternation of all 1,500: such a
# pattern takes Python over 30 ms to compile, most of a dry run's own work. Case is ignored as
# Python's re ignores it for these letters: lowercase, and these few that re also takes as equal
# to a TLD's letter (in Greek and old Cyrillic; the ASCII ones are gone by then, see above).
_TLDS = GENERIC_TLDS | COUNTRY_TLDS
_LONGEST_TLD = max(map(len, _TLDS))
_TLD_CASE_ALIKES = str.maketrans({
    "\u03f5": "\u03b5", "\u1c80": "\u0432", "\u1c81": "\u0434", "\u1c82": "\u043e",
    "\u1c83": "\u0441", "\u1c84": "\u0442", "\u1c85": "\u0442",
})


class _UrlPatterns:
    """The compiled URL patterns (a plain class: a dataclass would slow down the import).

    twitter-text's one URL pattern is ``before (protocol)? host (port)? (path)? (query)?`` with
    the host ``subdomain* domain-name TLD``; ``_UrlFinder`` tries its alternatives in the order
    the regex engine would, with these pieces."""

    __slots__ = ("ascii_labels", "ascii_tail", "before", "candidate_dot", "host_run",
                 "label_run", "may_precede", "not_after_tld", "printable_ascii", "protocol",
                 "punycode_tld", "tco", "tld_run")

    def __init__(self) -> None:
        def compiled(pattern: str) -> re.Pattern[str]:
            return re.compile(pattern, re.IGNORECASE)

        # A URL follows the start or anything but a letter, digit, @, $, # or an invalid
        # character; that character is consumed, so two URLs never share it.
        self.before = compiled(rf"[^a-z0-9@\uff20$#\uff03{_INVALID}]|[{_DIRECTIONAL}]")
        self.protocol = compiled(r"https?://")
        # A subdomain or domain name is one run of label characters with a dot after it, its
        # first and last character no "-" or "_" (and a domain name holds no "_" at all).
        self.label_run = compiled(f"{_LABEL_CHAR}+")
        # A TLD must not run on into letters or digits: "example.community" is not "example.com".
        self.not_after_tld = compiled("[0-9a-z@+-]")
        self.tld_run = compiled("[0-9a-z@+-]*")
        self.punycode_tld = compiled("xn--[0-9a-z-]+")
        # What may follow a host: port, path, query. The path's classes of accented and Cyrillic
        # letters take milliseconds to compile, so a URL that runs on only through printable
        # ASCII is matched with ASCII classes (which agree with the full ones there), and the
        # full pattern is compiled only for the first that does not.
        # (Without IGNORECASE, which makes classes slow to compile: in ASCII it is just A-Z.)
        self.ascii_tail = re.compile(_tail(_ASCII_PATH_SEGMENT_ANY_CASE, _ASCII_QUERY_ANY_CASE))
        self.printable_ascii = compiled("[!-~]*")
        # The labels of an ASCII host inside a host, for a URL without protocol.
        self.ascii_labels = compiled(rf"(?:[a-z0-9{_LATIN_ACCENTS}-]+\.)+")
        self.tco = compiled(rf"https?://t\.co/([a-z0-9]+)(?:{_QUERY})?")  # ends at slug or query
        self.candidate_dot = compiled(rf"\.(?={_HOST_CHAR})")  # may begin a host's last label
        self.host_run = compiled(f"{_HOST_RUN}+")  # how far a host can reach either way
        self.may_precede = compiled("[^A-Za-z0-9]")  # may come right before a URL


@cache
def _url_patterns() -> _UrlPatterns:
    """The URL patterns, compiled on first use."""
    return _UrlPatterns()


class _UrlMatch:
    """One URL as twitter-text's pattern matches it, with indices into the text matched."""

    __slots__ = ("before", "end", "has_path", "host_end", "host_start", "matched", "protocol",
                 "start")

    def __init__(self, matched: str, before: str, start: int, protocol: str | None,
                 host_start: int, host_end: int, has_path: bool, end: int) -> None:
        self.matched, self.before, self.protocol = matched, before, protocol
        self.has_path = has_path
        self.start, self.host_start, self.host_end, self.end = start, host_start, host_end, end

    @property
    def host(self) -> str:
        return self.matched[self.host_start:self.host_end]


def _tail(path_segment: str, query: str) -> str:
    return rf"(?::[0-9]++)?(?P<path>/(?:{path_segment})*+)?(?:{query})?"


@cache
def _full_tail() -> re.Pattern[str]:
    return re.compile(_tail(_PATH_SEGMENT, _QUERY), re.IGNORECASE)


def _tld_end(patterns: _UrlPatterns, text: str, at: int) -> int | None:
    """Where the longest TLD at ``at`` that nothing host-like follows ends; else where a
    punycode TLD ends; else None."""
    # A TLD must be followed by none of [0-9a-z@+-], so inside a run of those it can end only
    # where the run does; it can go on past the run only if a non-ASCII letter comes next (the
    # ASCII in TLDs is letters only: "com", "vermögensberater").
    run_end = patterns.tld_run.match(text, at).end()  # type: ignore[union-attr]
    if run_end < len(text) and not text[run_end].isascii():
        for length in range(min(_LONGEST_TLD, len(text) - at), run_end - at, -1):
            end = at + length
            if _tld_key(text[at:end]) in _TLDS and not patterns.not_after_tld.match(text, end):
                return end
    if run_end > at:
        if _tld_key(text[at:run_end]) in _TLDS:
            return run_end
        if text[at:at + 4].lower() == "xn--" and (
                punycode := patterns.punycode_tld.match(text, at)):
            return punycode.end()  # (with no lookahead: "xn--p1ai@x" has one)
    return None


def _tld_key(candidate: str) -> str:
    """``candidate`` as the TLD list would hold it if Python's re took it for that TLD."""
    return candidate.lower().translate(_TLD_CASE_ALIKES)


class _UrlFinder:
    """The URL starting at a position of one text, as twitter-text's pattern would match there;
    what it learns on the way (where each host, label, TLD and run of printable ASCII ends) is
    kept, so that trying every position of a long host-like run ("a.a.a...", a paragraph of
    Japanese with full stops) takes time in proportion to the run, not to its square."""

    __slots__ = ("_ascii_run", "_host_ends", "_label_ends", "_label_starts", "_patterns",
                 "_text", "_tld_ends", "_underscores")

    def __init__(self, text: str) -> None:
        self._patterns = patterns = _url_patterns()
        self._text = text
        # Each run of label characters: where it starts and ends, and its last "_" (or -1).
        runs = list(patterns.label_run.finditer(text))
        self._label_starts = [run.start() for run in runs]
        self._label_ends = [run.end() for run in runs]
        self._underscores = [run.start() + run[0].rfind("_") if "_" in run[0] else -1
                             for run in runs]
        self._host_ends: dict[int, int | None] = {}  # host start: host end, or None
        self._tld_ends: dict[int, int | None] = {}  # as _tld_end
        self._ascii_run = (0, -1)  # (from, to): only printable ASCII lies in between

    def match(self, position: int) -> _UrlMatch | None:
        """The URL starting at ``position`` (with the character before it): after a preceding
        character, or (at the very start) after none; the first host that fits wins, and the
        rest is optional. (The pattern would also try a host in place of a protocol it found,
        but "http:" can never begin a host.)"""
        patterns, text = self._patterns, self._text
        starts = [position + 1] if patterns.before.match(text, position) else []
        if position == 0:
            starts.append(0)
        for start in starts:
            protocol = patterns.protocol.match(text, start)
            host_start = protocol.end() if protocol else start
            host_end = self.host_end(host_start)
            if host_end is None:
                continue
            tail = self._tail_after(host_end)
            return _UrlMatch(text, text[position:start], start,
                             protocol[0] if protocol else None, host_start, host_end,
                             tail["path"] is not None, tail.end())
        return None

    def host_end(self, at: int) -> int | None:
        """Where a host starting at ``at`` ends: as many subdomains as will go before the
        domain name and TLD, trying fewer if that fails, as the pattern's greedy repeat would.
        The host after a subdomain is the host starting at the next label, so each label's
        answer is found once, and the labels are followed from ``at`` to one already known."""
        subdomains: list[tuple[int, int, bool]] = []  # each label's start, dot, no "_" in it
        start = at
        while start not in self._host_ends:
            label = self._label(start)
            if label is None:  # no subdomain here, so no domain name either
                self._host_ends[start] = None
                break
            subdomains.append((start, *label))
            start = label[0] + 1
        end = self._host_ends[start]
        for start, dot, domain_name in reversed(subdomains):
            if end is None and domain_name:
                end = self._tld_end(dot + 1)
            self._host_ends[start] = end
        return self._host_ends[at]

    def _label(self, start: int) -> tuple[int, bool] | None:
        """If a subdomain starts at ``start``: the dot that ends it, and whether it may be a
        domain name as well (it holds no "_")."""
        text = self._text
        run = bisect_right(self._label_starts, start) - 1
        # Of a label's characters, only "-" and "_" are not host characters.
        if run < 0 or start >= self._label_ends[run] or text[start] in "-_":
            return None
        dot = self._label_ends[run]
        if dot == len(text) or text[dot] != "." or text[dot - 1] in "-_":
            return None
        return dot, self._underscores[run] < start

    def _tld_end(self, at: int) -> int | None:
        if at not in self._tld_ends:
            self._tld_ends[at] = _tld_end(self._patterns, self._text, at)
        return self._tld_ends[at]

    def _tail_after(self, host_end: int) -> re.Match[str]:
        """The port, path and query after a host (each may be empty)."""
        patterns, text = self._patterns, self._text
        known_from, ascii_end = self._ascii_run
        if not known_from <= host_end <= ascii_end:
            ascii_run = patterns.printable_ascii.match(text, host_end)
            assert ascii_run is not None  # (it may be empty)
            ascii_end = ascii_run.end()
            self._ascii_run = (host_end, ascii_end)
        if ascii_end == len(text) or text[ascii_end].isascii():
            tail = patterns.ascii_tail.match(text, host_end)
        else:
            tail = _full_tail().match(text, host_end)
        assert tail is not None  # everything in it is optional
        return tail


def _ascii_hosts(patterns: _UrlPatterns, host: str) -> Iterator[tuple[int, int]]:
    """The (start, end) of each ASCII host inside ``host``, left to right without overlapping:
    one or more labels of ASCII letters, digits, accented Latin letters and dashes, each with its
    dot, then a TLD."""
    position = 0
    while labels := patterns.ascii_labels.search(host, position):
        dots = [at + 1 for at, char in enumerate(labels[0], labels.start()) if char == "."]
        # As many labels as will go before a TLD, fewer if that fails; starting later in the
        # same labels can only do worse, so a failure moves past them.
        end = next((end for dot in reversed(dots)
                    if (end := _tld_end(patterns, host, dot)) is not None), None)
        if end is None:
            position = labels.end()
            continue
        yield labels.start(), end
        position = end


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _punycode_length(label: str) -> int:
    """The length of ``label`` in ASCII, as twitter-text's punycode library writes it: each part
    between ideographic dots kept if printable ASCII, else "xn--" and its punycode."""
    if label.isascii() and label.isprintable():
        return len(label)
    length = 0
    for part in re.split(f"[{IDEOGRAPHIC_DOTS}]", label):
        if part.isascii() and part.isprintable():
            length += len(part) + 1
        else:
            length += len("xn--") + len(part.encode("punycode")) + 1
    return length - 1


def _host_converts(host: str, matchable_host: str) -> bool:
    """Whether twitter-text's IDNA check accepts ``host``: each label 1 to 63 characters in
    punycode, and a host written in punycode holds an ASCII host.

    A label is never shorter in punycode than in characters, so a longer one fails unencoded
    (punycode takes time in the square of a label's length); and labels are checked before
    ASCII hosts are sought, which then takes time in proportion to the host's length."""
    try:
        if not all(len(label) <= MAX_LABEL_LENGTH and 1 <= _punycode_length(label)
                   <= MAX_LABEL_LENGTH for label in host.split(".")):
            return False
    except UnicodeError:  # a lone surrogate: no host of X's
        return False
    return not host.startswith("xn--") or next(
        _ascii_hosts(_url_patterns(), matchable_host), None) is not None


def _url_matches(matchable: str) -> Iterator[_UrlMatch]:
    """Every match of the URL pattern, as a left-to-right scan of the whole text would find them,
    but trying only the positions where one can start: just before a host run (or its protocol)
    that holds a dot followed by a host character, and inside that run before such a dot.
    Elsewhere a URL cannot start, and trying every position costs most of the time."""
    patterns = _url_patterns()
    finder = _UrlFinder(matchable)
    untried = 0  # every position before this has been tried, or lies inside the last match
    run_start = run_end = 0  # the host run the last dot tried is in
    for dot in patterns.candidate_dot.finditer(matchable):
        dot_at = dot.start()
        if dot_at < untried:
            continue
        while run_end <= dot_at:  # the runs are found left to right, each once
            run = patterns.host_run.search(matchable, run_end)
            assert run is not None  # the dot is in one
            run_start, run_end = run.span()
        starts = []
        for protocol in ("https://", "http://"):
            if matchable[max(run_start - len(protocol), 0):run_start].lower() == protocol:
                starts.append(max(run_start - len(protocol) - 1, 0))
                break
        starts.append(max(run_start - 1, 0))
        inside = patterns.may_precede.finditer(matchable, max(run_start, untried), dot_at)
        for position in (*starts, *(found.start() for found in inside)):
            if position < untried:
                continue
            untried = position + 1
            if match := finder.match(position):
                untried = match.end
                yield match
                break


class _Link:
    """A link found: where it starts and ends, and where its 23-character weight stops."""

    __slots__ = ("counted_end", "end", "start")

    def __init__(self, start: int, end: int, counted_end: int) -> None:
        self.start, self.end, self.counted_end = start, end, counted_end


def _links(text: str) -> list[_Link]:
    """The links X finds in the NFC-normalised ``text``, in order, as extractUrlsWithIndices."""
    if "." not in text:
        return []
    matchable = text
    if not text.isascii() and any(char in text for char in _ASCII_LOOKALIKES):
        matchable = text.translate(_WITHOUT_ASCII_LOOKALIKES)
    patterns = _url_patterns()
    links = []
    for match in _url_matches(matchable):
        start, end, host_start, host_end = match.start, match.end, match.host_start, match.host_end
        host = text[host_start:host_end]
        protocol = match.protocol
        url_length = _utf16_len(protocol or DEFAULT_PROTOCOL) + _utf16_len(text[start:end])
        if url_length > MAX_URL_LENGTH or not _host_converts(host, match.host):
            continue
        if protocol:
            if tco := patterns.tco.match(matchable, start, end):
                if len(tco[1]) > MAX_TCO_SLUG_LENGTH:
                    continue
                end = tco.end()  # nothing after a t.co slug but a query string
            links.append(_Link(start, end, end))
        elif match.before not in NO_PROTOCOL_BAD_PRECEDING:
            links.extend(_hosts_without_protocol(text, match))
    return links


def _hosts_without_protocol(text: str, match: _UrlMatch) -> list[_Link]:
    """The links in a URL without protocol: each ASCII host within its host (an accented Latin
    letter counts as ASCII), the last one with the URL's port, path and query if it has a path."""
    host_start, host_end, host = match.host_start, match.host_end, match.host
    links = []
    searched_to = 0
    for start, end in _ascii_hosts(_url_patterns(), host):
        # twitter-text places each ASCII host at its first occurrence after the previous one.
        offset = host.find(host[start:end], searched_to)
        searched_to = offset + end - start
        links.append(_Link(host_start + offset, host_start + searched_to, host_start + searched_to))
    if links and match.has_path:
        last, url_end = links[-1], match.end
        links[-1] = _Link(last.start, url_end, _counted_end(text, last, host_end, url_end))
    return links


def _counted_end(text: str, last: _Link, host_end: int, url_end: int) -> int:
    """Where X stops counting a URL without protocol that has a path, as its last ASCII host.

    X counts 23 for as many UTF-16 units as the URL has once its host is cut down to that ASCII
    host; that stops short of the URL's end when the host runs on past the ASCII host
    ("example.com例え.jp/path" counts 23 for "example.com/path" worth of units, then the rest).
    """
    if last.end == host_end:
        return url_end
    units = _utf16_len(text[last.start:last.end] + text[host_end:url_end])
    end = last.start
    while end < len(text) and units > 0:
        units -= _utf16_len(text[end])
        end += 1
    return end - 1 if units < 0 else end  # inside a surrogate pair: that character is text


def link_spans(text: str) -> list[LinkSpan]:
    """Every URL in ``text`` that X counts as a link (and shortens to a t.co link), in order,
    bare domains ("met.police.uk/hackney") included, with code-point indices into
    ``unicodedata.normalize("NFC", text)``."""
    normalized = unicodedata.normalize("NFC", text)
    return [
        LinkSpan(link.start, link.end, normalized[link.start:link.end])
        for link in _links(normalized)
    ]


# ---- emoji -------------------------------------------------------------------------------------
@cache
def _emoji_tree() -> tuple[dict[str, dict], re.Pattern[str]]:
    """A trie of every emoji sequence, and a pattern for where one may begin: a character some
    sequence begins with (or, beyond the BMP, lies between two that do); "#", "*" and digits
    only before U+FE0F or U+20E3 (keycaps)."""
    from emoji.unicode_codes import EMOJI_DATA  # only needed once a non-ASCII text is weighed

    tree: dict[str, dict] = {}
    for sequence in EMOJI_DATA:
        if sequence in TEXT_STYLE_SYMBOLS:
            continue
        node = tree
        for char in sequence:
            node = node.setdefault(char, {})
        node[""] = {}  # a sequence ends here
    ascii_firsts = sorted(char for char in tree if char.isascii())
    bmp_firsts = sorted(char for char in tree if not char.isascii() and char <= "\uffff")
    # Outside the BMP a class of single characters is slow to match; their span is quick, and
    # the trie then turns away the few in it that begin no emoji.
    astral_firsts = sorted(char for char in tree if char > "\uffff")
    begins = (f"[{_class_body(bmp_firsts)}]|[{astral_firsts[0]}-{astral_firsts[-1]}]"
              f"|[{_class_body(ascii_firsts)}](?=[\ufe0f\u20e3])")
    return tree, re.compile(begins)


def _emoji_spans(text: str) -> dict[int, int]:
    """{start: end} in code points of each emoji sequence, which counts as one character: the
    longest sequence at each place, scanning from the left."""
    if text.isascii():  # every emoji, keycaps included, holds a non-ASCII character
        return {}
    tree, first_char = _emoji_tree()
    spans = {}
    scanned_to = 0
    for found in first_char.finditer(text):
        start = found.start()
        if start < scanned_to:
            continue
        node, end, index = tree, 0, start
        while index < len(text) and (child := node.get(text[index])) is not None:
            node, index = child, index + 1
            if "" in node:
                end = index
        if end:
            spans[start] = scanned_to = end
    return spans


# ---- weighing ----------------------------------------------------------------------------------
@cache
def _heavy_char() -> re.Pattern[str]:
    """A character outside WEIGHT_RANGES."""
    ranges = "".join(f"\\u{first:04x}-\\u{last:04x}" for first, last, _ in WEIGHT_RANGES)
    return re.compile(f"[^{ranges}]")


def _text_weight(text: str) -> int:
    """The weight of ``text`` character by character, in hundredths: ``SCALE`` (every range in
    WEIGHT_RANGES weighs that) plus the extra for each character outside them."""
    if text.isascii():
        return len(text) * SCALE
    return len(text) * SCALE + len(_heavy_char().findall(text)) * (DEFAULT_WEIGHT - SCALE)


def _char_weight(char: str) -> int:
    code_point = ord(char)
    for first, last, weight in WEIGHT_RANGES:
        if first <= code_point <= last:
            return weight
    return DEFAULT_WEIGHT


def _pieces(normalized: str) -> dict[int, tuple[int, int]]:
    """{start: (end, weight)} of the pieces that do not count character by character: links,
    then emoji sequences; where both start, the link wins, and a piece that starts inside an
    earlier one does not count."""
    pieces: dict[int, tuple[int, int]] = {}
    if EMOJI_PARSING_ENABLED:
        for start, end in _emoji_spans(normalized).items():
            pieces[start] = (end, DEFAULT_WEIGHT)
    for link in _links(normalized):
        pieces[link.start] = (link.counted_end, TRANSFORMED_URL_LENGTH * SCALE)
    return pieces


def _weigh(normalized: str, pieces: dict[int, tuple[int, int]]) -> int:
    """The weighted length of an NFC-normalised text, in hundredths."""
    weighted = _text_weight(normalized)
    index = 0
    for start in sorted(pieces):
        if start < index:
            continue
        end, weight = pieces[start]
        weighted += weight - _text_weight(normalized[start:end])
        index = end
    return weighted


def _valid_end(normalized: str, pieces: dict[int, tuple[int, int]]) -> int:
    """The UTF-16 index of the last code unit that is still valid and within the limit."""
    limit = X_MAX_WEIGHTED_LENGTH * SCALE
    weighted = 0  # in hundredths
    last_unit = -1  # UTF-16 index of the last code unit weighed
    valid_end = 0
    index = 0
    while index < len(normalized):
        if index in pieces:
            end, weight = pieces[index]
            piece = normalized[index:end]
            units = _utf16_len(piece)
        else:
            end, piece = index + 1, normalized[index]
            weight, units = _char_weight(piece), 2 if piece > "\uffff" else 1
        weighted += weight
        last_unit += units
        # Past the limit, or at an invalid character, nothing later can be valid.
        if weighted > limit or not INVALID_CHARACTERS.isdisjoint(piece):
            break
        valid_end = last_unit
        index = end
    return valid_end


def parse_tweet(text: str) -> TweetLength:
    """Weigh ``text`` as X does and say whether it may be posted."""
    normalized = unicodedata.normalize("NFC", text)
    pieces = _pieces(normalized)
    weighted = _weigh(normalized, pieces)
    has_invalid = not INVALID_CHARACTERS.isdisjoint(normalized)
    if has_invalid or weighted > X_MAX_WEIGHTED_LENGTH * SCALE:
        valid_end = _valid_end(normalized, pieces)
    else:
        valid_end = max(_utf16_len(normalized) - 1, 0)
    length = weighted // SCALE
    # twitter-text shifts the valid range by what normalising added or removed, wherever it was.
    offset = _utf16_len(text) - _utf16_len(normalized)
    return TweetLength(
        weighted_length=length,
        valid=not has_invalid and 0 < length <= X_MAX_WEIGHTED_LENGTH,
        permillage=length * 1000 // X_MAX_WEIGHTED_LENGTH,
        display_range=(0, max(_utf16_len(text) - 1, 0)),
        valid_range=(0, valid_end + offset),
    )


def invalid_characters(text: str) -> list[str]:
    """The characters of ``text`` that make it invalid for X (twitter-text's invalid
    characters: X refuses a post holding one), each once, in the order they first appear."""
    if INVALID_CHARACTERS.isdisjoint(text):
        return []
    return list(dict.fromkeys(char for char in text if char in INVALID_CHARACTERS))


# A post's text is weighed more than once (checked against its limit, then shown with its
# length; a thread's split tries each part again): the latest are remembered.
@lru_cache(maxsize=1024)
def weighted_length(text: str) -> int:
    """X's weighted length of ``text``: ``parse_tweet(text).weighted_length``."""
    normalized = unicodedata.normalize("NFC", text)
    return _weigh(normalized, _pieces(normalized)) // SCALE
