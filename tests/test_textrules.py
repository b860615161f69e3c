"""X's weighted length: every official twitter-text v3 conformance case, then police messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from metpost.textrules import X_MAX_WEIGHTED_LENGTH, TweetLength, parse_tweet, weighted_length

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
