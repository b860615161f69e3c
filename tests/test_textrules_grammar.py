"""textrules finds a URL's host step by step, with the TLDs in a set; twitter-text writes the
same grammar as one regex with every TLD in it. Here that one regex is built from textrules'
own pieces and the same TLD list, and both must agree at every position of generated texts:
where a URL starts, where its host ends, its protocol, the character before it, whether it has
a path, and the ASCII hosts inside a host."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from functools import cache

import pytest

from metpost import textrules
from metpost.tlds import COUNTRY_TLDS, GENERIC_TLDS

SEED = 1829  # the year the Metropolitan Police was founded
TEXT_COUNT = 2500


def _alternation(words: Iterable[str]) -> str:
    """Any of ``words``, the longest first, as one regex alternation."""
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


@cache
def reference() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """twitter-text's URL pattern and its ASCII-host pattern, each with every TLD inline."""
    tld = (rf"(?:{_alternation(GENERIC_TLDS | COUNTRY_TLDS)})(?=[^0-9a-z@+-]|$)"
           r"|xn--[0-9a-z-]+")
    url = (rf"(?P<before>[^a-z0-9@\uff20$#\uff03{textrules._INVALID}]"
           rf"|[{textrules._DIRECTIONAL}]|^)"
           rf"(?P<url>(?P<protocol>https?://)?"
           rf"(?P<host>(?:{textrules._SUBDOMAIN})*{textrules._DOMAIN_NAME}(?:{tld}))"
           rf"(?::[0-9]++)?(?P<path>/(?:{textrules._PATH_SEGMENT})*+)?"
           rf"(?:{textrules._QUERY})?)")
    ascii_host = rf"(?:[a-z0-9{textrules._LATIN_ACCENTS}-]+\.)+(?:{tld})"
    return re.compile(url, re.IGNORECASE), re.compile(ascii_host, re.IGNORECASE)


# Pieces of text that make hosts hard to find: TLDs in any case (and their look-alikes in
# Greek and old Cyrillic), labels with dashes and underscores, scripts without case, dots and
# punctuation a host cannot hold, protocols, ports, paths and queries.
TLD_SAMPLE = sorted(GENERIC_TLDS | COUNTRY_TLDS)
PIECES = [
    ".", ".", ".", ".", "-", "_", "/", ":", "@", "#", "$", "+", " ", "\u200e", "\u202a", "\u3002",
    "www", "met", "police", "uk", "co", "com", "community", "comx", "xn--", "xn--p1ai",
    "xn--bcher-kva", "a1", "-x", "x-", "café", "ÉLAN", "例え", "日本語", "пример", "рф", "РФ",
    "ελ", "ϵλ", "ΕΛ", "ᲂрг", "москва", "ᲀ", "みんな", "中国", "https://", "http://", "HTTP://",
    "http:/", ":8080", "/a.(b)", "/wiki/Foo_(bar)", "?q=1&x=y", "?q=a.", "/path/", "(", ")",
    "\ufeff", "K", "t.co/abc", "/Area/Hackney/", "/WIKI/Foo_(Bar)", "?Q=A&X=Y", "/\u2013dash",
]


LABELS = ["www", "met", "police", "a1", "-x", "x-", "a_b", "café", "ÉLAN", "例え", "пример",
          "ϵλ", "ᲂрг", "xn--bcher-kva", "x" * 64, "", "K"]


def _host_like(rng: random.Random) -> str:
    """Labels and dots ending in a TLD, a look-alike of one, or something that is not one."""
    labels = [rng.choice(LABELS) for _ in range(rng.randint(1, 4))]
    ending = rng.choice(TLD_SAMPLE) if rng.random() < 0.7 else rng.choice(PIECES)
    if rng.random() < 0.2:
        ending = ending.upper()
    return ".".join([*labels, ending])


def generated_texts() -> list[str]:
    rng = random.Random(SEED)
    texts = []
    for _ in range(TEXT_COUNT):
        pieces = []
        for _ in range(rng.randint(1, 10)):
            roll = rng.random()
            if roll < 0.35:
                pieces.append(_host_like(rng))
            elif roll < 0.5:
                tld = rng.choice(TLD_SAMPLE)
                pieces.append(tld.upper() if rng.random() < 0.2 else tld)
            else:
                pieces.append(rng.choice(PIECES))
        texts.append("".join(pieces))
    return texts


def test_the_step_by_step_host_finder_matches_the_one_regex_grammar():
    url_pattern, _ = reference()
    compared = found = 0
    for text in generated_texts():
        finder = textrules._UrlFinder(text)  # one for all positions: what it learns is kept
        for position in range(len(text) + 1):
            theirs = url_pattern.match(text, position)
            ours = finder.match(position)
            compared += 1
            if theirs is None:
                assert ours is None, (text, position)
                continue
            found += 1
            assert ours is not None, (text, position)
            assert (ours.before, ours.start, ours.protocol, ours.host_start, ours.host_end,
                    ours.has_path, ours.end) == (
                theirs["before"], theirs.start("url"), theirs["protocol"], theirs.start("host"),
                theirs.end("host"), theirs["path"] is not None, theirs.end("url")), (text, position)
    assert found > 8000, f"only {found} of {compared} positions held a URL: a weak generator"


def test_the_ascii_hosts_inside_a_host_match_the_one_regex_grammar():
    _, ascii_host = reference()
    patterns = textrules._url_patterns()
    found = 0
    for text in generated_texts():
        theirs = [match.span() for match in ascii_host.finditer(text)]
        assert list(textrules._ascii_hosts(patterns, text)) == theirs, text
        found += len(theirs)
    assert found > 1500


@pytest.mark.parametrize("text, host", [
    ("see ϵλ.ϵλ now", "ϵλ.ϵλ"),  # lunate epsilon: Python's re takes it as ε
    ("news.ᲂрг.рф/x", "news.ᲂрг.рф"),
    ("a.comx.com", "a.comx.com"),
    ("a.com-x", None),  # a TLD may not run on into a dash
    ("é.com", "é.com"),  # at the start, the character "before" may be the host's own
])
def test_hosts_the_one_regex_would_find(text, host):
    finder = textrules._UrlFinder(text)
    matches = [match for position in range(len(text)) if (match := finder.match(position))]
    assert (matches[0].host if matches else None) == host
    url_pattern, _ = reference()
    theirs = next((m for p in range(len(text)) if (m := url_pattern.match(text, p))), None)
    assert (theirs["host"] if theirs else None) == host
