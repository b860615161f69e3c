"""X's weighted length and links: every official twitter-text v3 conformance case, then police
messages and the links X would shorten, texts long enough to have hung the link finder, and the
characters X refuses."""

# ruff: noqa: RUF001 -- the texts are meant to hold look-alike characters (Cyrillic letters)

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest
import yaml

from metpost.platforms.mastodon import MastodonPlatform
from metpost.platforms.x import XPlatform
from metpost.textrules import (
    MAX_URL_LENGTH,
    X_MAX_WEIGHTED_LENGTH,
    LinkSpan,
    TweetLength,
    invalid_characters,
    link_spans,
    parse_tweet,
    weighted_length,
)

CONFORMANCE = Path(__file__).parent / "data" / "twitter-text-weighted.yml"
# Sections X's current rule must pass, and how many cases each holds.
SECTIONS = {"WeightedTweetsWithDiscountedEmojiCounterTest": 22,
            "UnicodeDirectionalMarkerCounterTest": 2}


def load_cases() -> list[dict]:
    tests = yaml.safe_load(CONFORMANCE.read_text(encoding="utf-8"))["tests"]
    return [case for section in SECTIONS for case in tests[section]]


CASES = load_cases()


def test_every_conformance_case_is_loaded():
    assert len(CASES) == sum(SECTIONS.values()) == 22 + 2
    assert all(case["text"] is not None and case["expected"] for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["description"] for case in CASES])
def test_conformance(case):
    result = parse_tweet(case["text"])
    assert {
        "weightedLength": result.weighted_length,
        "valid": result.valid,
        "permillage": result.permillage,
        "displayRangeStart": result.display_range[0],
        "displayRangeEnd": result.display_range[1],
        "validRangeStart": result.valid_range[0],
        "validRangeEnd": result.valid_range[1],
    } == case["expected"]


HACKNEY = "https://www.met.police.uk/area/your-area/met/hackney/"


def test_280_plain_characters_fit_and_281_do_not():
    assert parse_tweet("a" * 280) == TweetLength(280, True, 1000, (0, 279), (0, 279))
    assert parse_tweet("a" * 281) == TweetLength(281, False, 1003, (0, 280), (0, 279))


def test_a_long_link_counts_23():
    text = f"Road closed on Mare Street after a collision. Updates: {HACKNEY}"
    assert weighted_length(text) == len(text) - len(HACKNEY) + 23


def test_a_long_link_lets_a_long_message_fit():
    text = "x" * (X_MAX_WEIGHTED_LENGTH - 24) + " " + HACKNEY
    assert len(text) > X_MAX_WEIGHTED_LENGTH
    assert parse_tweet(text).weighted_length == X_MAX_WEIGHTED_LENGTH
    assert parse_tweet(text).valid


@pytest.mark.parametrize("text, expected", [
    ("met.police.uk", 23),
    ("See met.police.uk", 4 + 23),
    ("See met.police.uk.", 4 + 23 + 1),  # the full stop ends the sentence, not the link
    ("(met.police.uk/hackney)", 1 + 23 + 1),
    ("Call 101 or visit example.com/report", 18 + 23),
    ("MET.POLICE.UK/Area", 23),
])
def test_a_bare_domain_counts_23(text, expected):
    assert weighted_length(text) == expected


@pytest.mark.parametrize("text", [
    "Follow @MPSHackney",
    "Email press@met.police.uk",  # an address, not a link
    "Version 1.2.3 is out",
    "See file.notatld for details",
    "Read the report.Then call 101",  # ".then" is no TLD
])
def test_text_that_is_not_a_link_counts_in_full(text):
    assert weighted_length(text) == len(text)


def test_a_missing_space_after_a_full_stop_can_make_a_link():
    # X links "safe.Report" (.report is a TLD) and "999.In" (.in, India) and counts each as 23.
    assert weighted_length("Stay safe.Report it") == 5 + 23 + 3
    assert weighted_length("Call 999.In an emergency") == 5 + 23 + 13


def test_a_link_ends_where_its_characters_end():
    assert weighted_length("https://example.com/パス") == 23 + 2 + 2  # CJK is not part of a path
    assert weighted_length(f"({HACKNEY})") == 1 + 23 + 1


def test_emoji_and_symbols():
    assert weighted_length("Stay safe 👮🏽‍♀️") == 10 + 2  # one emoji sequence
    assert weighted_length("🏴󠁧󠁢󠁥󠁮󠁧󠁿 England") == 2 + 8
    assert weighted_length("© Metropolitan Police") == 21  # © on its own is text, weight 1
    assert weighted_length("\u00a9\ufe0f") == 2  # with the emoji selector it is an emoji


def test_empty_and_invalid_text_are_not_valid():
    assert parse_tweet("") == TweetLength(0, False, 0, (0, 0), (0, 0))
    assert not parse_tweet("Appeal\ufffe").valid


def test_a_text_over_the_limit_is_valid_up_to_the_piece_that_crosses_it():
    text = "a" * 270 + " " + HACKNEY + " 👮🏽 " + "b" * 10  # 270 + 1 + 23 + 1 + 2 + 1 + 10
    # The link takes the weight from 271 to 294, so the valid part ends with the space before it;
    # the display range counts the two astral characters of the emoji as two UTF-16 units each.
    assert parse_tweet(text) == TweetLength(308, False, 1100, (0, len(text) + 1), (0, 270))


# ---- links ----------------------------------------------------------------------------------
def spans(text):
    return [(span.start, span.end, span.url) for span in link_spans(text)]


def test_link_spans_are_code_point_indices_into_the_nfc_text():
    text = f"Hackney 👮🏽: cafe\u0301 rumours are false. See {HACKNEY} and met.police.uk. #Hackney"
    normalized = unicodedata.normalize("NFC", text)
    start = normalized.index(HACKNEY)
    bare = normalized.index("met.police.uk.")
    assert link_spans(text) == [LinkSpan(start, start + len(HACKNEY), HACKNEY),
                                LinkSpan(bare, bare + len("met.police.uk"), "met.police.uk")]
    assert all(normalized[span.start:span.end] == span.url for span in link_spans(text))


def test_link_spans_are_frozen():
    span = link_spans("met.police.uk")[0]
    with pytest.raises(AttributeError):
        span.start = 1  # type: ignore[misc]


@pytest.mark.parametrize("text, expected", [
    ("See met.police.uk.", [(4, 17, "met.police.uk")]),  # the full stop ends the sentence
    (f"({HACKNEY})", [(1, 1 + len(HACKNEY), HACKNEY)]),
    ("Read https://en.wikipedia.org/wiki/Hackney_(borough), then", [
        (5, 52, "https://en.wikipedia.org/wiki/Hackney_(borough)")]),
    ("http://example.com/search?q=riots&page=2!", [
        (0, 40, "http://example.com/search?q=riots&page=2")]),
    ("https://t.co/abc123/more", [(0, 19, "https://t.co/abc123")]),  # t.co ends at its slug
    ("https://t.co/" + "a" * 41, []),  # a t.co slug over 40 characters is no link
    ("t.co/abc and MLB.tv", [(0, 8, "t.co/abc"), (13, 19, "MLB.tv")]),
    ("これは日本語です。example.com中国語", [(9, 20, "example.com")]),
    ("https://例え.jp/パス", [(0, 14, "https://例え.jp/")]),  # a path holds no CJK
    ("https://www.例え.jp", [(0, 17, "https://www.例え.jp")]),
    ("example.МОСКВА", [(0, 14, "example.МОСКВА")]),
    ("Email press@met.police.uk or @MPSHackney", []),
    ("Version 1.2.3, file.notatld, example.community", [(29, 46, "example.community")]),
    ("HTTP://MET.POLICE.UK/Area", [(0, 25, "HTTP://MET.POLICE.UK/Area")]),
])
def test_link_spans(text, expected):
    assert spans(text) == expected


def test_a_link_s_labels_are_at_most_63_characters_in_punycode():
    assert spans("https://" + "a" * 63 + ".com") == [(0, 75, "https://" + "a" * 63 + ".com")]
    assert spans("https://" + "a" * 64 + ".com") == []
    assert spans("https://" + "ü" * 57 + ".de")  # "xn--" and 59 characters of punycode: 63
    assert spans("https://" + "ü" * 58 + ".de") == []  # 64
    # An ideographic full stop inside a label is a dot to punycode: "。" and 62 letters are 63.
    fits = "https://x.。" + "b" * 62 + ".com"
    assert spans(fits) == [(0, 77, fits)]
    assert spans("https://x.。" + "b" * 63 + ".com") == []


def test_a_host_in_punycode_must_be_ascii():
    assert spans("Hello http://xn--はじめよう.com/index.html") == []
    assert spans("Hello http://xn--bcher-kva.de/index.html") == [
        (6, 40, "http://xn--bcher-kva.de/index.html")]


def test_a_link_is_at_most_4096_characters_with_its_protocol_counted():
    # twitter-text adds the protocol's length to the URL's, even when the URL begins with it.
    fits = "https://example.com/" + "a" * (MAX_URL_LENGTH - 8 - 20)
    assert spans(fits) == [(0, len(fits), fits)]
    assert spans(fits + "a") == []
    bare = "example.com/" + "a" * (MAX_URL_LENGTH - 8 - 12)  # https:// is assumed
    assert spans(bare) == [(0, len(bare), bare)]
    assert spans(bare + "a") == []


@pytest.mark.parametrize("text, expected, weight", [
    # A path segment ending in parentheses must be only them: "/a.(b)" links up to "/a".
    ("https://example.com/a.(b)", [(0, 21, "https://example.com/a")], 23 + 4),
    # Without protocol, a port or query is part of the link only if a path comes first.
    ("met.police.uk?x=1", [(0, 13, "met.police.uk")], 23 + 4),
    ("met.police.uk:8080/x", [(0, 20, "met.police.uk:8080/x")], 23),
    # Without protocol, a link's labels hold no underscore: it begins after the last one.
    ("my_sub.example.com", [(3, 18, "sub.example.com")], 3 + 23),
    # A host may hold '"' (twitter-text's punctuation leaves it out)...
    ('http://foo.com"bar.com', [(0, 22, 'http://foo.com"bar.com')], 23),
    # ...so without protocol the character before a quoted host decides: "/" stops it.
    ('/"met.police.uk', [], 15),
    ('Visit "met.police.uk" now', [(7, 20, "met.police.uk")], 7 + 23 + 5),
    # A host without protocol may run on past its ASCII host; X then counts 23 for as many
    # UTF-16 units as "x.com/path" has, and the rest as text.
    ("x.com例え.jp/path", [(0, 15, "x.com例え.jp/path")], 23 + 5),
])
def test_links_as_twitter_text_s_javascript_finds_them(text, expected, weight):
    assert spans(text) == expected
    assert weighted_length(text) == weight


# ---- long texts -----------------------------------------------------------------------------
# Texts made of host-like runs (no spaces) thousands of characters long. Finding links in them
# once took time in the square of a run's length: 8 s for "a." * 4000, a minute or more for
# most of these. Each must now be weighed well within the timeout, which only guards against a
# hang: how fast it goes is bench/'s to measure, not a unit test's.
JAPANESE = "警察が現場に到着しました.詳細は後ほどお知らせします."  # ASCII full stops, no spaces
CYRILLIC = "Полицияприбыланаместопроисшествия.Подробностибудутпозже."
LONG_LABEL = "".join(chr(0x4E00 + index) for index in range(4000))  # 4,000 different ideographs


@pytest.mark.timeout(20)
@pytest.mark.parametrize("text, weight, links", [
    pytest.param("a." * 5000, 10_000, [], id="a. 5,000 times"),
    pytest.param(JAPANESE * 60, 3120, [], id="Japanese"),
    pytest.param(JAPANESE * 300, 15_600, [], id="more Japanese"),
    pytest.param((CYRILLIC * 400)[:15_600], 15_600, [], id="Cyrillic"),
    # Each "a.com" is a host, but only the first a link: the others follow "_".
    pytest.param("a.com_" * 6000, 23 + 36_000 - 5, [(0, 5, "a.com")], id="a.com_ 6,000 times"),
    # A host matched is passed over as a whole even when a label is too long to be a link's.
    pytest.param(" ".join([LONG_LABEL + ".com"] * 10), 10 * 8004 + 9, [],
                 id="labels of 4,000 characters"),
    pytest.param(" ".join(["xn--" + "a" * 4000 + "例.com"] * 150), 150 * 4010 + 149, [],
                 id="long punycode-like labels"),
    # Links one after another, each in the same long run of printable ASCII.
    pytest.param("a.com," * 30_000, 30_000 * (23 + 1),
                 [(6 * index, 6 * index + 5, "a.com") for index in range(30_000)],
                 id="a.com, 30,000 times"),
])
def test_long_host_like_runs_are_weighed_without_hanging(text, weight, links):
    assert parse_tweet(text).weighted_length == weight
    assert [(span.start, span.end, span.url) for span in link_spans(text)] == links
    assert XPlatform.check(text) == [f"too long for X: {weight}/280 weighted characters "
                                     f"({weight - 280} over)"]
    assert MastodonPlatform.length(text) == len(text)  # no link with a protocol: characters


# ---- characters X refuses -------------------------------------------------------------------
@pytest.mark.parametrize("text, refused", [
    ("Stay safe", []),
    ("Stay safe \ufeff", ["\ufeff"]),
    ("\uffffa\ufffeb\uffff", ["\uffff", "\ufffe"]),
    ("\u202aStay safe\u202c", []),  # directional characters are valid
])
def test_invalid_characters_are_those_that_make_parse_tweet_invalid(text, refused):
    assert invalid_characters(text) == refused
    assert parse_tweet(text).valid == (not refused)


@pytest.mark.parametrize("text, problem", [
    ("Stay safe \ufeff", "the text holds U+FEFF (ZERO WIDTH NO-BREAK SPACE), which X refuses in "
                         "a post; remove it from the template or --var"),
    ("Road closed\ufffe", "the text holds U+FFFE, which X refuses in a post; remove it from the "
                          "template or --var"),
    ("a\uffff b\ufeff c\uffff", "the text holds U+FFFF and U+FEFF (ZERO WIDTH NO-BREAK SPACE), "
                              "which X refuses in a post; remove them from the template or --var"),
])
def test_the_x_check_refuses_a_text_with_a_character_x_refuses(text, problem):
    assert XPlatform.check(text) == [problem]


def test_a_refused_character_comes_before_the_length_problem():
    # A thread's advice ("shorten it, or add --thread") goes on the last problem: the length.
    assert XPlatform.check("a" * 300 + "\ufeff") == [
        "the text holds U+FEFF (ZERO WIDTH NO-BREAK SPACE), which X refuses in a post; remove it "
        "from the template or --var",
        "too long for X: 302/280 weighted characters (22 over)"]  # U+FEFF weighs 2
