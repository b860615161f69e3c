"""Threads: a text too long for one post, split at sentences, then words, then characters into
numbered parts that each fit the platform's own count (X's weighted length: emoji and CJK 2,
links 23), posted as replies to the part before, one unit in the ledger.

Delivery tests run over real HTTP against the fakes, through tweepy, Mastodon.py and atproto,
with the fakes accepting duplicates, so that only metpost can keep a part from going out
twice; under METPOST_TEST_LEDGER=postgres every ledger is a PostgreSQL database."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from pathlib import Path

import emoji
import pytest

from metpost.platforms.bluesky import BlueskyPlatform
from metpost.platforms.mastodon import MastodonPlatform
from metpost.textrules import link_spans, weighted_length
from metpost.threads import MAX_PARTS, split_thread
from tests.conftest import TEST_LEDGER
from tests.fake_platforms.server import Fault, Reply
from tests.postgres_server import ledger_rows
from tests.social import bluesky_service, ledger_for, mastodon_service

NUMBER = re.compile(r" (\d+)/(\d+)$")
SENTENCE = "Roads around {{ borough }} station are closed while officers deal with an incident. "
LONG = SENTENCE * 8 + "Updates: https://www.met.police.uk/area/your-area/met/hackney/ 🚓"
TWEETS = "/2/tweets"


def x_fits(part: str) -> bool:
    return bool(part.strip()) and weighted_length(part) <= 280


def numbers_of(parts: list[str]) -> list[tuple[int, int]]:
    found = [NUMBER.search(part) for part in parts]
    assert all(found), parts
    return [(int(m.group(1)), int(m.group(2))) for m in found if m]


def without_numbers(parts: list[str]) -> list[str]:
    return [NUMBER.sub("", part) for part in parts]


def assert_a_faithful_thread(text: str, parts: list[str], fits) -> None:
    """Every part fits, is numbered k/N in order, and together they are the text: nothing
    lost, nothing added, no link or emoji cut in two."""
    assert len(parts) >= 2
    assert all(fits(part) for part in parts), [weighted_length(p) for p in parts]
    assert numbers_of(parts) == [(k, len(parts)) for k in range(1, len(parts) + 1)]
    pieces = without_numbers(parts)
    assert "".join("".join(pieces).split()) == "".join(text.split())
    for span in link_spans(text):
        assert any(span.url in piece for piece in pieces), span.url
    wanted = [found["emoji"] for found in emoji.emoji_list(text)]
    assert sorted(e["emoji"] for piece in pieces for e in emoji.emoji_list(piece)) == sorted(
        wanted)


# -- splitting ---------------------------------------------------------------------------------

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # one emoji, 2 on X


@pytest.mark.parametrize("text", [
    pytest.param("Officers are at Mare Street. " * 30, id="sentences"),
    pytest.param(("🚓 Patrols tonight " + FAMILY + " stay safe ") * 25, id="emoji"),
    pytest.param("警察は現在、マーレ通りの事件に対応しています。" * 20, id="cjk-sentences"),
    pytest.param("警察" * 400, id="cjk-no-punctuation"),
    pytest.param(" ".join(f"https://www.met.police.uk/appeal/{n}/witness-statement"
                          for n in range(40)), id="urls"),
    pytest.param(("Road closed: see met.police.uk/roads 🚧 and 交通規制のお知らせ。 " * 20),
                 id="mixed"),
    pytest.param("A" * 1200, id="one-long-word"),
    pytest.param(("警察" * 50 + "https://www.met.police.uk/appeal/1234") * 6, id="cjk-and-links"),
    # The limit falls inside the link: it must go to the next part whole.
    *(pytest.param("警" * count + "https://www.met.police.uk/appeal/1234" + "警察" * 100,
                   id=f"link-at-the-limit-{count}") for count in (127, 128, 129, 131)),
    pytest.param(FAMILY * 300, id="emoji-without-spaces"),
    pytest.param("\U0001f1ec\U0001f1e7" * 300, id="flags"),
])
def test_every_part_fits_x_weighted_length(text):
    parts = split_thread(text, x_fits)
    assert parts is not None
    assert_a_faithful_thread(text, parts, x_fits)


def test_random_texts_split_into_parts_that_fit():
    words = ["Roads", "closed", "near", "Hackney", "station.", "警察", "事件。", "🚓", FAMILY,
             "met.police.uk/roads", "https://example.org/a/very/long/path?with=query",
             "officers", "are", "on", "patrol!", "👍🏽", "交通", "#Hackney", "@MPSHackney"]
    rng = random.Random(20261124)
    for _ in range(200):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(40, 220)))
        parts = split_thread(text, x_fits)
        if weighted_length(text) <= 280:
            assert parts == [text]
            continue
        assert parts is not None
        assert_a_faithful_thread(text, parts, x_fits)


def test_sentences_end_parts_where_they_can():
    sentence = "Officers were called to a fight on Mare Street at 14:30 today, said police. "
    parts = split_thread(sentence * 7, x_fits)
    assert parts is not None
    assert all(piece.endswith("said police.") for piece in without_numbers(parts))


def test_a_text_that_fits_is_one_post():
    assert split_thread("Roads reopen at 6pm.", x_fits) == ["Roads reopen at 6pm."]


def test_too_many_parts_is_refused():
    assert split_thread("x " * (300 * MAX_PARTS), x_fits) is None


def test_mastodon_and_bluesky_count_their_own_way():
    mastodon = lambda part: not MastodonPlatform.check(part, {})  # noqa: E731
    text = ("https://www.met.police.uk/" + "a" * 200 + " closed. ") * 12
    parts = split_thread(text, mastodon)
    assert parts is not None and all(MastodonPlatform.length(p) <= 500 for p in parts)
    bluesky = lambda part: not BlueskyPlatform.check(part, {})  # noqa: E731
    families = (FAMILY + " ") * 400  # 800 graphemes, 10,000 bytes: bytes decide the cuts
    parts = split_thread(families, bluesky)
    assert parts is not None
    assert all(len(p.encode()) <= 3000 and BlueskyPlatform.length(p) <= 300 for p in parts)
    assert_a_faithful_thread(families, parts, bluesky)


# -- on the command line -----------------------------------------------------------------------

def nothing_recorded(fleet) -> bool:
    """No post in the fleet's ledger (refused before the ledger was even opened, or after)."""
    if TEST_LEDGER != "postgres" and not Path(fleet.ledger).exists():
        return True
    tables = fleet.ledger_rows("SELECT COUNT(*) FROM information_schema.tables WHERE "
                               "table_name = 'posts'") if TEST_LEDGER == "postgres" else [(1,)]
    return tables == [(0,)] or fleet.ledger_rows("SELECT COUNT(*) FROM posts") == [(0,)]


def x_send(*more: str) -> list[str]:
    return ["send", "--account", "hackney-x", "-m", LONG, "--yes", "--json", *more]


def test_over_length_without_thread_is_refused_and_mentions_thread(fleet):
    outcome = fleet.run(x_send())
    assert outcome.exit_code == 2
    assert "add --thread to post it as a thread of 3" in outcome.stderr
    assert fleet.x.request_count == 0
    assert nothing_recorded(fleet)


def test_a_dry_run_shows_each_part_and_its_length(fleet):
    outcome = fleet.run(["send", "--account", "hackney-x", "-m", LONG, "--thread", "--dry-run"])
    assert outcome.exit_code == 0, outcome.stderr
    lines = outcome.stdout.splitlines()
    headers = [line for line in lines if line.startswith("-- part ")]
    assert [h.split(",")[0] for h in headers] == [f"-- part {n} of 3" for n in (1, 2, 3)]
    assert "  hackney-x (@MPSHackney)  x         thread of 3, longest " in outcome.stdout
    document = json.loads(fleet.run(["send", "--account", "hackney-x", "-m", LONG, "--thread",
                                     "--dry-run", "--json"]).stdout)
    [post] = document["posts"]
    assert [part["length"] for part in post["parts"]] == [
        weighted_length(part["text"]) for part in post["parts"]]
    assert all(part["length"] <= 280 for part in post["parts"])
    assert fleet.x.request_count == 0


def test_each_part_counts_against_x_caps_and_price(fleet):
    outcome = fleet.run(["send", "--account", "hackney-x", "-m", LONG, "--thread", "--dry-run",
                         "--json"])
    [app] = json.loads(outcome.stdout)["x_usage"]
    assert (app["accounts"], app["posts"], app["posts_with_link"]) == (1, 3, 1)


def test_x_gets_a_thread_of_replies_and_facebook_one_post(fleet):
    outcome = fleet.run(["send", "--borough", "Hackney", "-m", LONG, "--thread", "--yes",
                         "--json"])
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    thread = fleet.x.live_posts("MPSHackney")
    assert len(thread) == 3
    assert [post.reply_to for post in thread] == [None, thread[0].id, thread[1].id]
    assert numbers_of([post.text for post in thread]) == [(1, 3), (2, 3), (3, 3)]
    [page_post] = fleet.graph.live_posts("1001")
    assert page_post.message == LONG.replace("{{ borough }}", "Hackney")
    posts = {p["account"]: p for p in json.loads(outcome.stdout)["posts"]}
    assert posts["hackney-x"]["remote_id"] == thread[0].id  # the thread is found by its head
    key = fleet.ledger_rows("SELECT idempotency_key FROM posts WHERE account = 'hackney-x'")
    assert fleet.ledger_rows(
        f"SELECT position, state, remote_id FROM post_parts WHERE post_key = '{key[0][0]}' "
        "ORDER BY position") == [(n, "sent", post.id) for n, post in enumerate(thread, 1)]
    shown = fleet.run(["show", "last"])
    for number, post in enumerate(thread, start=1):
        assert f"hackney-x {number}/3\tsent\thttps://x.com/MPSHackney/status/{post.id}" in (
            shown.stdout)
    [shown_post] = [p for p in json.loads(fleet.run(["show", "last", "--json"]).stdout)["posts"]
                    if p["account"] == "hackney-x"]
    assert [(p["position"], p["state"], p["remote_id"]) for p in shown_post["parts"]] == [
        (n, "sent", post.id) for n, post in enumerate(thread, 1)]
    rerun = fleet.run(["send", "--borough", "Hackney", "-m", LONG, "--thread", "--yes", "--json"])
    assert {p["status"] for p in json.loads(rerun.stdout)["posts"]} == {"already sent"}
    assert len(fleet.x.live_posts("MPSHackney")) == 3


# -- exactly once, part by part ----------------------------------------------------------------

def accept_duplicates(fleet) -> None:
    fleet.x.refuse_duplicates = False
    fleet.graph.refuse_duplicates = False


def on_part(fake, number: int, fault: Fault, path: str = TWEETS) -> None:
    """Let the first ``number - 1`` posts through, then ``fault`` on post ``number``."""
    paths = frozenset({path})
    for _ in range(number - 1):
        fake.queue_fault(1, Fault("pass", answer=fake.route, paths=paths))
    fake.queue_fault(1, Fault(fault.name, answer=fault.answer, process=fault.process,
                              close=fault.close, delay=fault.delay, paths=paths))


def x_posts_made(fleet) -> list:
    return [r for r in fleet.x.requests if r.method == "POST" and r.path == TWEETS]


FORBIDDEN = Reply(403, {"title": "Forbidden", "type": "about:blank", "status": 403,
                        "detail": "You are not permitted to perform this action."},
                  content_type="application/problem+json")


def test_a_rerun_after_part_2_of_3_failed_posts_parts_2_and_3_only(fleet):
    accept_duplicates(fleet)
    on_part(fleet.x, 2, Fault("refused", answer=lambda _r: FORBIDDEN))
    first = fleet.run(x_send("--thread"))
    assert first.exit_code == 1
    [post] = json.loads(first.stdout)["posts"]
    assert post["status"] == "failed"
    assert post["error"].startswith("part 2 of 3: X refused the post: You are not permitted")
    [head] = fleet.x.live_posts("MPSHackney")
    assert post["remote_id"] == head.id  # part 1 is out, and named
    made_before = len(x_posts_made(fleet))
    rerun = fleet.run(x_send("--thread"))
    assert rerun.exit_code == 0, rerun.stdout
    thread = fleet.x.live_posts("MPSHackney")
    assert len(thread) == 3 and thread[0].id == head.id
    assert [p.reply_to for p in thread] == [None, thread[0].id, thread[1].id]
    assert numbers_of([p.text for p in thread]) == [(1, 3), (2, 3), (3, 3)]
    assert len(x_posts_made(fleet)) - made_before == 2  # parts 2 and 3, nothing else


def test_a_part_whose_answer_was_lost_is_looked_for_before_anything_follows(fleet):
    accept_duplicates(fleet)
    on_part(fleet.x, 2, Fault("drop", process=True, close="after"))
    listing = "/2/users/1001/tweets"
    fleet.x.queue_fault(1, Fault("listing-down", answer=lambda _r: fleet.x.error_reply(503),
                                 methods=frozenset({"GET"}), paths=frozenset({listing})))
    first = fleet.run(x_send("--thread"))
    [post] = json.loads(first.stdout)["posts"]
    assert post["status"] == "unknown", post
    assert post["error"].startswith("part 2 of 3: ")
    assert len(fleet.x.live_posts("MPSHackney")) == 2  # part 2 did go out
    seen = fleet.x.request_count
    rerun = fleet.run(["retry", "last", "--yes", "--json"])
    assert rerun.exit_code == 0, rerun.stdout
    later = fleet.x.requests[seen:]
    asked = [(r.method, r.path) for r in later if r.path in (listing, TWEETS)]
    assert asked == [("GET", listing), ("POST", TWEETS)]  # looked, found part 2, sent part 3
    thread = fleet.x.live_posts("MPSHackney")
    assert len(thread) == 3
    assert [p.reply_to for p in thread] == [None, thread[0].id, thread[1].id]


@pytest.mark.parametrize("lost", [1, 2])
def test_retract_looks_for_a_part_in_doubt_and_deletes_it_with_the_rest(fleet, lost):
    accept_duplicates(fleet)
    on_part(fleet.x, lost, Fault("drop", process=True, close="after"))
    listing = "/2/users/1001/tweets"
    fleet.x.queue_fault(1, Fault("listing-down", answer=lambda _r: fleet.x.error_reply(503),
                                 methods=frozenset({"GET"}), paths=frozenset({listing})))
    [post] = json.loads(fleet.run(x_send("--thread")).stdout)["posts"]
    assert post["status"] == "unknown"
    out = [part.id for part in fleet.x.live_posts("MPSHackney")]
    assert len(out) == lost  # the part went out, though its answer was lost
    retracted = fleet.run(["retract", "last", "--yes", "--json"])
    assert retracted.exit_code == 0, retracted.stdout
    [post] = json.loads(retracted.stdout)["posts"]
    assert (post["status"], post["remote_id"], post["error"]) == ("retracted", out[0], None)
    deleted = [r.path.rsplit("/", 1)[1] for r in fleet.x.requests if r.method == "DELETE"]
    assert deleted == out[::-1] and fleet.x.live_posts("MPSHackney") == []
    made = len(x_posts_made(fleet))
    assert fleet.run(["retry", "last", "--yes"]).exit_code == 1  # part 3 never goes out
    assert len(x_posts_made(fleet)) == made


def test_a_lookalike_part_of_another_thread_is_not_taken_for_this_one(fleet, tmp_path):
    accept_duplicates(fleet)
    # The same thread went out a moment ago from another machine, with a ledger of its own.
    assert fleet.run([*x_send("--thread"), "--ledger", str(tmp_path / "laptop.sqlite3")]
                     ).exit_code == 0
    theirs = fleet.x.live_posts("MPSHackney")
    on_part(fleet.x, 2, Fault("drop", process=True, close="after"))
    outcome = fleet.run(x_send("--thread"))
    assert outcome.exit_code == 0, outcome.stdout
    ours = [post for post in fleet.x.live_posts("MPSHackney") if post not in theirs]
    assert len(ours) == 3  # X lists their part 2 too: same words, but it answers their part 1
    assert [p.reply_to for p in ours] == [None, ours[0].id, ours[1].id]


def test_a_part_made_then_answered_with_a_5xx_is_found_not_sent_twice(fleet):
    accept_duplicates(fleet)
    on_part(fleet.x, 2, Fault("post_then_fail", process=True,
                              answer=lambda _r: fleet.x.error_reply(500)))
    outcome = fleet.run(x_send("--thread"))
    assert outcome.exit_code == 0, outcome.stdout
    thread = fleet.x.live_posts("MPSHackney")
    assert len(thread) == 3
    assert [p.reply_to for p in thread] == [None, thread[0].id, thread[1].id]


def deliver(fleet, stop: threading.Event | None = None):
    from metpost.broadcast import prepare
    from metpost.config import load_config
    from metpost.ledger import open_ledger
    from metpost.render import inline_template
    from metpost.runner import RunControl, send
    from metpost.selection import Selection

    broadcast = prepare(load_config(fleet.config), Selection(accounts=("hackney-x",)),
                        inline_template(LONG), {}, fleet.env, thread=True)
    return send(broadcast, open_ledger(fleet.ledger), fleet.env,
                control=RunControl(stop=stop)).results


def test_ctrl_c_after_part_1_leaves_the_rest_for_the_rerun(fleet):
    accept_duplicates(fleet)
    stop = threading.Event()

    def post_then_stop(request):
        reply = fleet.x.route(request)
        stop.set()  # Ctrl-C while part 1's answer comes back
        return reply

    fleet.x.queue_fault(1, Fault("stop", answer=post_then_stop, paths=frozenset({TWEETS})))
    [result] = deliver(fleet, stop)
    assert str(result.status) == "not sent"
    assert len(fleet.x.live_posts("MPSHackney")) == 1
    [result] = deliver(fleet)
    assert str(result.status) == "sent"
    thread = fleet.x.live_posts("MPSHackney")
    assert len(thread) == 3 and len(x_posts_made(fleet)) == 3


def test_a_run_that_lost_the_thread_to_another_sends_no_further_part(fleet):
    accept_duplicates(fleet)

    def post_then_lose_the_claim(request):
        reply = fleet.x.route(request)
        fleet.ledger_execute("UPDATE posts SET claimed_by = 'elsewhere.example:1:abcdef', "
                             "lease_until = 4102444800 WHERE account = 'hackney-x'")
        return reply

    fleet.x.queue_fault(1, Fault("taken", answer=post_then_lose_the_claim,
                                 paths=frozenset({TWEETS})))
    [result] = deliver(fleet)
    assert str(result.status) == "in progress elsewhere"
    assert len(x_posts_made(fleet)) == 1  # the compare-and-set stopped part 2
    fleet.ledger_execute("UPDATE posts SET lease_until = 1 WHERE account = 'hackney-x'")
    [result] = deliver(fleet)  # the other run died: its claim is taken over and finished
    assert str(result.status) == "sent"
    thread = fleet.x.live_posts("MPSHackney")
    assert len(thread) == 3 and len(x_posts_made(fleet)) == 3


def test_retract_deletes_every_part_even_of_a_thread_that_stopped_part_way(fleet):
    assert fleet.run(["send", "--account", "hackney-x", "-m", LONG, "--thread", "--yes"]
                     ).exit_code == 0
    ids = [post.id for post in fleet.x.live_posts("MPSHackney")]
    assert len(ids) == 3
    assert fleet.run(["retract", "last", "--yes"]).exit_code == 0
    deleted = [r.path.rsplit("/", 1)[1] for r in fleet.x.requests if r.method == "DELETE"]
    assert deleted == ids[::-1]  # last part first: no reply left answering a deleted post
    assert fleet.x.live_posts("MPSHackney") == []
    on_part(fleet.x, 2, Fault("refused", answer=lambda _r: FORBIDDEN))
    partial = fleet.run(["send", "--account", "hackney-x", "-m", LONG + " Again.", "--thread",
                         "--yes"])
    assert partial.exit_code == 1
    assert len(fleet.x.live_posts("MPSHackney")) == 1
    assert fleet.run(["retract", "last", "--yes"]).exit_code == 0
    assert fleet.x.live_posts("MPSHackney") == []
    shown = fleet.run(["show", "last"]).stdout
    # Part 1 was deleted; parts 2 (refused) and 3 (never tried) will never go out.
    assert re.search(r"hackney-x 1/3\s+retracted", shown), shown
    assert re.search(r"hackney-x 2/3\s+withdrawn", shown), shown
    assert re.search(r"hackney-x 3/3\s+withdrawn", shown), shown
    rerun = fleet.run(["send", "--account", "hackney-x", "-m", LONG + " Again.", "--thread",
                       "--yes", "--json"])
    assert [p["status"] for p in json.loads(rerun.stdout)["posts"]] == ["retracted"]
    assert fleet.x.live_posts("MPSHackney") == []


def test_a_copied_ledger_keeps_its_threads(fleet, tmp_path):
    from metpost.ledger import SqliteLedger
    from metpost.ledger.transfer import copy_ledger

    if TEST_LEDGER == "postgres":
        pytest.skip("copies one SQLite file into another")
    assert fleet.run(["send", "--account", "hackney-x", "-m", LONG, "--thread", "--yes"]
                     ).exit_code == 0
    source = SqliteLedger(Path(fleet.ledger))
    target = SqliteLedger(tmp_path / "copy.sqlite3")
    assert copy_ledger(source, target).copied
    [post] = target.posts(target.broadcasts(1)[0].id)
    assert [(p.position, str(p.state)) for p in target.parts(post.idempotency_key)] == [
        (1, "sent"), (2, "sent"), (3, "sent")]


# -- Mastodon and Bluesky ------------------------------------------------------------------------

@pytest.fixture
def mastodon(tmp_path, request):
    with mastodon_service(tmp_path, ledger_for(request, tmp_path)) as service:
        yield service


MASTODON_LONG = "{{ borough }}: " + ("Officers are on patrol around the market this evening "
                                     "and ask anyone with information to come forward. ") * 10


def test_mastodon_threads_reply_to_the_part_before_and_resend_with_the_same_key(mastodon):
    # A 500 from Mastodon itself: it is done with the request (after no answer, or a proxy's,
    # it may not be, and the part is not resent at once: see test_platform_mastodon.py).
    on_part(mastodon.fake, 2, Fault("post_then_fail", process=True,
                                    answer=lambda _r: mastodon.fake.error_reply(500)),
            path="/api/v1/statuses")
    outcome = mastodon.send(MASTODON_LONG, "--thread")
    assert outcome.exit_code == 0, outcome.stdout
    statuses = mastodon.fake.live_statuses("mpshackney")
    assert len(statuses) == 3
    assert [s.reply_to for s in statuses] == [None, statuses[0].id, statuses[1].id]
    posts = [r for r in mastodon.fake.requests if r.path == "/api/v1/statuses"]
    keys = [r.headers["idempotency-key"] for r in posts]
    assert len(keys) == 4 and len(set(keys)) == 3  # part 2 resent once, with its own key
    assert keys[1] == keys[2]


def test_a_mastodon_part_whose_answer_was_lost_is_not_resent_while_it_may_be_in_the_making(
        mastodon):
    # Part 2 takes 3 s to be made (the key is stored only then); its answer is lost after 1 s.
    # Resent at once, it would find no key and be made twice.
    with mastodon.fake._lock:
        mastodon.fake._making_delays.extend([0.0, 3.0])
    first = mastodon.send(MASTODON_LONG, "--thread", "--read-timeout", "1", "--deadline", "4")
    assert [p["status"] for p in json.loads(first.stdout)["posts"]] == ["unknown"]
    early = mastodon.run(["retry", "last", "--yes", "--json"])
    [post] = json.loads(early.stdout)["posts"]
    assert post["status"] == "unknown" and "may still be making it" in post["error"], post
    time.sleep(3)  # the first request for part 2 is done by now
    statuses = mastodon.fake.live_statuses("mpshackney")
    assert len(statuses) == 2 and statuses[1].reply_to == statuses[0].id
    assert len([r for r in mastodon.fake.requests if r.path == "/api/v1/statuses"]) == 2


def test_mastodon_rerun_after_part_2_failed_sends_parts_2_and_3(mastodon):
    on_part(mastodon.fake, 2, Fault("refused", answer=lambda _r: Reply(
        422, {"error": "Validation failed: Text can't be blank"})), path="/api/v1/statuses")
    first = mastodon.send(MASTODON_LONG, "--thread")
    assert [p["status"] for p in json.loads(first.stdout)["posts"]] == ["failed"]
    mastodon.fake.forget_idempotency_keys()  # an hour later: only metpost's record remains
    rerun = mastodon.send(MASTODON_LONG, "--thread")
    assert rerun.exit_code == 0, rerun.stdout
    statuses = mastodon.fake.live_statuses("mpshackney")
    assert len(statuses) == 3
    assert [s.reply_to for s in statuses] == [None, statuses[0].id, statuses[1].id]


@pytest.fixture
def bluesky(tmp_path, request):
    with bluesky_service(tmp_path, ledger_for(request, tmp_path)) as service:
        yield service


BLUESKY_LONG = "{{ borough }}: " + ("Officers are on patrol around the market tonight. ") * 12


def test_bluesky_parts_name_the_thread_root_and_their_parent(bluesky):
    outcome = bluesky.send(BLUESKY_LONG, "--thread")
    assert outcome.exit_code == 0, outcome.stdout
    keys = bluesky.fake.post_keys("mpshackney.bsky.social")
    uris = [f"at://did:plc:hackney0000000000000001/app.bsky.feed.post/{key}" for key in keys]
    assert len(uris) == 3
    assert bluesky.fake.replies("mpshackney.bsky.social") == [
        (None, None), (uris[0], uris[0]), (uris[0], uris[1])]
    assert bluesky.fake.updates == 0


def test_bluesky_rerun_after_part_2_failed_sends_parts_2_and_3(bluesky):
    put = "/xrpc/com.atproto.repo.putRecord"
    on_part(bluesky.fake, 2, Fault("refused", answer=lambda _r: Reply(
        400, {"error": "InvalidRequest", "message": "Record was rejected"})), path=put)
    first = bluesky.send(BLUESKY_LONG, "--thread")
    assert [p["status"] for p in json.loads(first.stdout)["posts"]] == ["failed"]
    assert len(bluesky.fake.post_keys("mpshackney.bsky.social")) == 1
    rerun = bluesky.send(BLUESKY_LONG, "--thread")
    assert rerun.exit_code == 0, rerun.stdout
    assert len(bluesky.fake.post_keys("mpshackney.bsky.social")) == 3
    assert len([r for r in bluesky.fake.requests if r.path == put]) == 4
    rows = ledger_rows(bluesky.ledger, "SELECT state FROM post_parts ORDER BY position")
    assert rows == [("sent",), ("sent",), ("sent",)]
