"""X's weighted length against the official twitter-text conformance cases, and police texts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from metpost.textrules import X_MAX_WEIGHTED_LENGTH, parse_tweet, url_spans, weighted_length

DATA = Path(__file__).parent / "data" / "twitter-text-weighted.yml"
SECTIONS = ("WeightedTweetsWithDiscountedEmojiCounterTest", "UnicodeDirectionalMarkerCounterTest")


def load_cases() -> list[dict]:
    tests = yaml.safe_load(DATA.read_text(encoding="utf-8"))["tests"]
    return [case for section in SECTIONS for case in tests[section]]


CASES = load_cases()


def test_all_24_cases_are_loaded():
    tests = yaml.safe_load(DATA.read_text(encoding="utf-8"))["tests"]
    assert [len(tests[section]) for section in SECTIONS] == [22, 2]
    assert len(CASES) == 24


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


def test_280_plain_characters_fit_and_281_do_not():
    assert parse_tweet("a" * 280).valid
    assert weighted_length("a" * 280) == X_MAX_WEIGHTED_LENGTH
    assert not parse_tweet("a" * 281).valid


def test_a_long_link_counts_23():
    link = "https://www.met.police.uk/area/your-area/met/hackney/"
    assert weighted_length(f"Updates: {link}") == len("Updates: ") + 23


def test_a_bare_domain_counts_23_but_sentence_punctuation_does_not():
    assert weighted_length("See met.police.uk") == len("See ") + 23
    assert weighted_length("See met.police.uk.") == len("See ") + 23 + 1


def test_mentions_and_emails_are_not_links():
    assert url_spans("Follow @MPSHackney or write to press@met.police.uk") == []


def test_empty_text_is_not_valid():
    assert not parse_tweet("").valid
