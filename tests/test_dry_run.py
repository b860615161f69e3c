"""--dry-run: everything but publishing, with no network call and no credentials."""

from __future__ import annotations

import json
import socket

import pytest

from metpost.platforms.graphemes import shows_nothing
from metpost.plugins import BUILTIN_PLATFORMS, platform_classes

ARGS = ["send", "--borough", "hackney", "--template", "rumour-control", "--var", "rumour=a riot",
        "--dry-run"]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_dry_run_needs_no_credentials_and_makes_no_connection(fleet):
    # Point every account at a port nobody listens on: any connection attempt would fail.
    port = closed_port()
    text = fleet.config.read_text()
    text = text.replace(fleet.x.url, f"http://127.0.0.1:{port}")
    text = text.replace(fleet.graph.url, f"http://127.0.0.1:{port}")
    fleet.config.write_text(text)
    outcome = fleet.run([*ARGS, "--json"], env={name: "" for name in fleet.env})
    assert outcome.exit_code == 0, outcome.stderr
    document = json.loads(outcome.stdout)
    assert document["dry_run"] is True
    assert [p["account"] for p in document["posts"]] == ["hackney-x", "hackney-facebook"]
    first = document["posts"][0]
    assert first == {
        "account": "hackney-x", "platform": "x", "handle": "@MPSHackney",
        "text": "Hackney: rumours of a riot are untrue.\nUpdates: hackney-x.",
        "length": 58, "limit": 280, "ok": True, "problems": [],
        "missing_credentials": ["HACKNEY_X_CONSUMER_KEY", "HACKNEY_X_CONSUMER_SECRET",
                                "HACKNEY_X_ACCESS_TOKEN", "HACKNEY_X_ACCESS_TOKEN_SECRET"]}
    assert document["posts"][1]["limit"] == 63206
    assert fleet.x.request_count == 0 and fleet.graph.request_count == 0
    assert not (fleet.root / "ledger.sqlite3").exists()


def test_dry_run_plain_text_when_piped(fleet):
    outcome = fleet.run(ARGS)
    assert outcome.exit_code == 0
    assert outcome.stdout == (
        "Dry run\n\n"
        "== Text 1 of 2, for 1 account\n"
        "Hackney: rumours of a riot are untrue.\nUpdates: hackney-x.\n"
        "  hackney-x (@MPSHackney)  x         58/280\n\n"
        "== Text 2 of 2, for 1 account\n"
        "Hackney: rumours of a riot are untrue.\nUpdates: hackney-facebook.\n"
        "  hackney-facebook  facebook  65/63206\n"
        "2 posts (2 distinct texts), all fit; dry run: nothing was sent.\n")
    full = fleet.run([*ARGS, "--full"])
    assert full.stdout == (
        "Dry run\n\n"
        "== hackney-x (@MPSHackney) [x] 58/280 ok\n"
        "Hackney: rumours of a riot are untrue.\nUpdates: hackney-x.\n\n"
        "== hackney-facebook [facebook] 65/63206 ok\n"
        "Hackney: rumours of a riot are untrue.\nUpdates: hackney-facebook.\n"
        "2 posts (2 distinct texts), all fit; dry run: nothing was sent.\n")
    assert fleet.x.request_count == 0 and fleet.graph.request_count == 0


def test_dry_run_shows_every_problem_and_exits_2(fleet):
    long = "x" * 300
    outcome = fleet.run(["send", "--all", "--message", "{{ borough }} " + long, "--dry-run",
                         "--json"])
    assert outcome.exit_code == 2
    posts = json.loads(outcome.stdout)["posts"]
    x_posts = [p for p in posts if p["platform"] == "x"]
    assert x_posts[0]["ok"] is False
    assert x_posts[0]["problems"] == [
        "too long for X: 308/280 weighted characters (28 over); shorten it, or add --thread to "
        "post it as a thread of 2"]
    assert all(p["ok"] for p in posts if p["platform"] == "facebook")


def test_json_output_is_an_outline_with_one_post_a_line(fleet):
    # Top-level fields and each post on a line of their own; a post's own fields compact on
    # its line (json's C encoder; an indented dump runs in pure Python). Same values as ever.
    from metpost.output.base import json_text

    outcome = fleet.run([*ARGS, "--json"], env={name: "" for name in fleet.env})
    lines = outcome.stdout.splitlines()
    document = json.loads(outcome.stdout)
    assert lines[:3] == ["{", '  "dry_run": true,', '  "posts": [']
    assert [json.loads(line.strip().rstrip(",")) for line in lines[3:5]] == document["posts"]
    assert lines[5] in ("  ],", "  ]") and lines[-1] == "}"
    tricky = {"é ☃ \u2028": [[], {}, [{"deep": {"deeper": [1, 2.5, None, True]}}], "\x00\n\""],
              "empty": {}, "none": [], "n": 0, "list": [1, "two", {"three": [3]}]}
    assert json.loads(json_text(tricky)) == tricky
    odd_keys = {7: "seven", 2.5: [1], True: {}, None: {"x": 1}}
    assert json.loads(json_text(odd_keys)) == json.loads(json.dumps(odd_keys))
    assert "é ☃" in json_text(tricky)  # not \u-escaped
    assert json_text(tricky).split("\n")[1] == '  "é ☃ \u2028": ['
    assert json_text([]) == "[]" and json_text("x") == '"x"'


def test_a_character_x_refuses_stops_the_broadcast_before_anything_is_sent(fleet):
    refusal = ("the text holds U+FEFF (ZERO WIDTH NO-BREAK SPACE), which X refuses in a post; "
               "remove it from the template or --var")
    dry = fleet.run(["send", "--all", "--message", "Stay safe \ufeff", "--dry-run", "--json"])
    assert dry.exit_code == 2
    posts = json.loads(dry.stdout)["posts"]
    assert [(p["platform"], p["problems"]) for p in posts] == [
        ("x", [refusal]), ("facebook", []), ("x", [refusal]), ("facebook", [])]
    sent = fleet.run(["send", "--all", "--message", "Stay safe \ufeff", "--yes"])
    assert sent.exit_code == 2
    assert sent.error_lines == [f"metpost: error: {account}: {refusal}"
                                for account in ("hackney-x", "camden-x")] + [
        "metpost: error: nothing was sent"]
    assert fleet.x.request_count == 0 and fleet.graph.request_count == 0


# Texts that show nothing: zero-width space, word joiner, byte-order mark, the Hangul fillers,
# a variation selector, a tag, a soft hyphen, and a mix of them with ordinary whitespace.
NOTHING_VISIBLE = ["\u200b", "\u2060", "\ufeff", "\u3164", "\u115f\u1160", "\uffa0", "\ufe0f",
                   "\U000e0041", "\u00ad", " \u200b\n\u2060\u3000\u200d "]


@pytest.mark.parametrize("text", NOTHING_VISIBLE)
def test_a_text_that_shows_nothing_is_refused_as_empty(fleet, text):
    outcome = fleet.run(["send", "--all", "--message", text, "--dry-run", "--json"])
    assert outcome.exit_code == 2
    posts = json.loads(outcome.stdout)["posts"]
    assert {p["platform"] for p in posts} == {"x", "facebook"}
    assert all(p["problems"] == ["text is empty"] for p in posts), posts
    assert fleet.x.request_count == 0 and fleet.graph.request_count == 0


@pytest.mark.parametrize("name", sorted(BUILTIN_PLATFORMS))
def test_every_platform_refuses_a_text_that_shows_nothing_as_empty(name):
    platform = platform_classes()[name]
    for text in ["", " \n\t", *NOTHING_VISIBLE, "\u200b" * 2000]:  # 6,000 bytes: only empty
        assert platform.check(text) == ["text is empty"], (name, text)
    for text in ["a\u200b", "\u3164\u3131", "\u0301", "\u06dd", "\u2800"]:
        assert platform.check(text) == [], (name, text)


def test_what_shows_nothing():
    assert shows_nothing("") and shows_nothing("\x07\u200e\U000e0100\u180b\u034f")
    # Drawn, though some are format characters: the Arabic end of ayah and number sign, the
    # blank Braille pattern, a combining accent on its own, a Hangul letter after a filler.
    assert not any(map(shows_nothing, ["\u06dd", "\u0600", "\u2800", "\u0301", "\u3164\u3131"]))
