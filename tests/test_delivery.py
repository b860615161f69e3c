"""Unattended delivery against faulty fakes: every account ends with exactly one post, and the
ledger agrees with the platform, across a rerun."""

from __future__ import annotations

import itertools
import json
import re
import time

import pytest

from tests.fake_platforms.server import Fault, Reply

SEND = ["send", "--all", "--message", "{{ borough }}: roads reopen at 6pm.", "--yes", "--json"]
ACCOUNTS = {"hackney-x", "hackney-facebook", "camden-x", "camden-facebook"}


@pytest.fixture(autouse=True)
def duplicates_accepted(request):
    """The fakes accept duplicate posts here, so only metpost can prevent a double post; a
    test that is about the platforms' own refusal asks for it with refuse_duplicates."""
    if "fleet" in request.fixturenames and "refuse_duplicates" not in request.keywords:
        fleet = request.getfixturevalue("fleet")
        fleet.x.refuse_duplicates = fleet.graph.refuse_duplicates = False


def statuses(outcome) -> dict[str, str]:
    return {p["account"]: p["status"] for p in json.loads(outcome.stdout)["posts"]}


def assert_exactly_one_post_each_and_ledger_agrees(fleet):
    on_platforms = {
        "hackney-x": fleet.x.live_posts("MPSHackney"),
        "camden-x": fleet.x.live_posts("MPSCamden"),
        "hackney-facebook": fleet.graph.live_posts("1001"),
        "camden-facebook": fleet.graph.live_posts("1002"),
    }
    for account, posts in on_platforms.items():
        assert len(posts) == 1, f"{account} has {len(posts)} posts"
    rows = fleet.ledger_rows("SELECT account, state, remote_id FROM posts")
    assert {account: (state, remote) for account, state, remote in rows} == {
        account: ("sent", posts[0].id) for account, posts in on_platforms.items()}


def rerun_posts_nothing_new(fleet):
    before = fleet.x.request_count + fleet.graph.request_count
    outcome = fleet.run(SEND)
    assert outcome.exit_code == 0, outcome.stderr
    assert set(statuses(outcome).values()) == {"already sent"}
    posts_requests = [r for r in fleet.x.requests + fleet.graph.requests if r.method == "POST"]
    assert fleet.x.request_count + fleet.graph.request_count == before
    return posts_requests


def test_server_errors_are_retried_until_they_pass(fleet):
    fleet.x.fail_next(2, status=503)
    fleet.graph.fail_next(2, status=500)
    outcome = fleet.run(SEND)
    assert outcome.exit_code == 0, outcome.stdout
    assert statuses(outcome) == dict.fromkeys(ACCOUNTS, "sent")
    attempts = sum(p["attempts"] for p in json.loads(outcome.stdout)["posts"])
    assert attempts == 4 + 4  # four posts, four injected failures
    assert_exactly_one_post_each_and_ledger_agrees(fleet)
    rerun_posts_nothing_new(fleet)
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


def test_rate_limit_waits_for_the_reset_within_the_deadline(fleet, tmp_path):
    log = tmp_path / "attempts.jsonl"
    fleet.x.rate_limit_next(1, reset_in=1.0)
    fleet.graph.rate_limit_next(1, code=17)  # the user limit: Graph names no time, so back off
    outcome = fleet.run([*SEND, "--log-file", str(log)])
    assert outcome.exit_code == 0, outcome.stdout
    records = [json.loads(line) for line in log.read_text().splitlines()]
    retries = [r for r in records if r["outcome"] == "retry"]
    assert sorted(r["platform"] for r in retries) == ["facebook", "x"]
    assert {r["status"] for r in retries} == {429, 400}
    assert set(records[0]) == {"time", "broadcast", "account", "platform", "attempt", "outcome",
                               "status", "latency_ms", "error"}
    # X's retry waited for its reset, about a second later; it did not come back at once.
    x_posts = [r for r in fleet.x.requests if r.method == "POST"]
    limited = next(r for r in x_posts if r.status == 429)
    [retried] = [r for r in x_posts if r.body == limited.body and r is not limited]
    assert retried.received_at - limited.received_at >= 0.5
    assert_exactly_one_post_each_and_ledger_agrees(fleet)
    rerun_posts_nothing_new(fleet)


@pytest.mark.parametrize("reset", ["99999999999999999999", "253402300800", "soon", "\u0661\u0662"])
def test_a_reset_header_that_names_no_time_is_a_limit_without_one(fleet, reset):
    from tests.fake_platforms.server import Fault, Reply

    def limited(_request):
        reply = fleet.x.rate_limit_reply(1.0)
        return Reply(reply.status, reply.body, {**reply.headers, "x-rate-limit-reset": reset})

    fleet.x.queue_fault(1, Fault("bad reset", answer=limited))
    outcome = fleet.run([*SEND, "--json"])
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr  # backed off, then sent
    assert "internal error" not in outcome.stdout + outcome.stderr
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


def test_rate_limit_beyond_the_deadline_fails_that_post_with_the_reset_time(fleet):
    fleet.x.rate_limit_next(1, reset_in=120)
    outcome = fleet.run([*SEND, "--deadline", "2", "--account", "hackney-x"])
    assert outcome.exit_code == 1
    posts = {p["account"]: p for p in json.loads(outcome.stdout)["posts"]}
    failed = [p for p in posts.values() if p["status"] == "failed"]
    assert len(failed) == 1
    assert re.fullmatch(r"rate limited until \d\d:\d\d:\d\d \(X, @MPS(Hackney|Camden)\)",
                        failed[0]["error"])
    # Later, the limit has passed: a rerun sends only the failed post.
    rerun = fleet.run(SEND)
    assert rerun.exit_code == 0
    assert sorted(statuses(rerun).values()) == ["already sent"] * 3 + ["sent"]
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


def test_a_rate_limit_whose_reset_has_passed_is_retried_after_a_backoff_not_at_once(fleet):
    # The platform's clock is behind ours, or its limit has not refilled: each 429 names a
    # reset a few seconds in the past. Retrying "until the reset" would mean at once, again
    # and again: hundreds of requests a second.
    fleet.x.rate_limit_next(1000, reset_in=-5)
    started = time.monotonic()
    send_hackney = ["send", "--account", "hackney-x", *SEND[2:]]
    outcome = fleet.run([*send_hackney, "--deadline", "3"])
    assert outcome.exit_code == 1
    assert time.monotonic() - started < 10
    posts = [r for r in fleet.x.requests if r.method == "POST"]
    assert 2 <= len(posts) <= 6, len(posts)  # backoff from 0.5 s within 3 s
    gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(posts)]
    assert min(gaps) >= 0.2, gaps


@pytest.mark.parametrize("offset", [3600.0, -3600.0])
def test_a_rate_limit_reset_is_read_on_the_platforms_clock(fleet, offset):
    # X's clock (or ours) is an hour out. Its reset, a second after the Date it answers with,
    # is a second away: not an hour away (beyond the deadline: the post would fail), nor an
    # hour ago (retried after a mere backoff, under a second, while the limit still holds).
    fleet.x.clock_offset = offset
    fleet.x.rate_limit_next(1, reset_in=1.0)
    outcome = fleet.run(["send", "--account", "hackney-x", *SEND[2:], "--deadline", "20"])
    assert outcome.exit_code == 0, outcome.stdout
    limited, retried = [r for r in fleet.x.requests if r.method == "POST"]
    assert (limited.status, retried.status) == (429, 201)
    assert 0.7 <= retried.received_at - limited.received_at < 5


def test_accepted_then_dropped_is_found_on_the_platform_not_reposted(fleet):
    fleet.x.drop_after_accept_next(1)
    fleet.graph.drop_after_accept_next(1)
    outcome = fleet.run(SEND)
    assert outcome.exit_code == 0, outcome.stdout
    # The two lost answers were looked for in the same run and found: sent, once.
    assert set(statuses(outcome).values()) == {"sent"}
    assert_exactly_one_post_each_and_ledger_agrees(fleet)
    rerun_posts_nothing_new(fleet)


def test_reconciling_sees_through_x_escaping_and_link_shortening(fleet):
    message = ["send", "--all", "--message",
               "{{ borough }} & <area>: https://www.met.police.uk/area/ or met.police.uk/roads",
               "--yes", "--json"]
    fleet.x.drop_after_accept_next(2)
    outcome = fleet.run(message)
    assert set(statuses(outcome).values()) == {"sent"}, outcome.stdout
    for post in fleet.x.live_posts():  # X lists every link as t.co, and escapes & < >
        shown = fleet.x.shown(post).text
        assert "https://t.co/" in shown and "&amp;" in shown
        assert "met.police.uk" not in shown
    assert len(fleet.x.live_posts()) == 2
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


def test_slow_answer_beyond_the_read_timeout_is_found_not_reposted(fleet):
    fleet.x.stall_next(1, seconds=3)
    outcome = fleet.run([*SEND, "--read-timeout", "0.5"])
    assert outcome.exit_code == 0, outcome.stdout
    assert set(statuses(outcome).values()) == {"sent"}
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


def test_connection_closed_before_any_answer_is_looked_for_then_sent(fleet):
    fleet.graph.refuse_next(1)
    outcome = fleet.run(SEND)
    assert outcome.exit_code == 0
    assert set(statuses(outcome).values()) == {"sent"}
    # Not on the page, so it was posted after looking: once.
    [lost] = [r for r in fleet.graph.requests if r.fault == "refuse"]
    assert [r.method for r in fleet.graph.requests if r.received_at > lost.received_at
            and r.path.endswith("/posts")] == ["GET"]
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


def test_revoked_token_fails_at_once_and_a_rerun_after_the_fix_completes(fleet):
    fleet.x.revoke(fleet.x_token("camden"))
    outcome = fleet.run(SEND)
    assert outcome.exit_code == 1
    posts = {p["account"]: p for p in json.loads(outcome.stdout)["posts"]}
    assert posts["camden-x"]["status"] == "failed"
    assert posts["camden-x"]["attempts"] == 1
    fleet.x.revoked.clear()
    rerun = fleet.run(["retry", "last", "--yes", "--json"])
    assert rerun.exit_code == 0
    assert statuses(rerun)["camden-x"] == "sent"
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


def test_nobody_listening_is_retried_then_fails_in_words(fleet):
    text = fleet.config.read_text().replace(fleet.graph.url, "http://127.0.0.1:9")
    fleet.config.write_text(text)
    outcome = fleet.run([*SEND, "--deadline", "2", "--platform", "facebook"])
    assert outcome.exit_code == 1
    errors = {p["error"] for p in json.loads(outcome.stdout)["posts"]}
    assert errors == {"could not connect to Facebook (gave up after the 2s deadline)"}
    attempts = {p["attempts"] for p in json.loads(outcome.stdout)["posts"]}
    assert min(attempts) >= 2


def test_partial_failure_summary_and_history(fleet):
    fleet.x.revoke(fleet.x_token("hackney"))
    outcome = fleet.run(["send", "--all", "--message", "{{ borough }}: update", "--yes"])
    assert outcome.exit_code == 1
    broadcast = re.search(r"Broadcast (\S+): 4 posts: ", outcome.stdout).group(1)
    assert outcome.stdout.splitlines()[-2] == f"Broadcast {broadcast}: 4 posts: 1 failed, 3 sent."
    assert outcome.stdout.splitlines()[-1] == (
        "renew HACKNEY_X_CONSUMER_KEY, HACKNEY_X_CONSUMER_SECRET, HACKNEY_X_ACCESS_TOKEN and "
        "HACKNEY_X_ACCESS_TOKEN_SECRET (hackney-x: the platform refused the credentials), then: "
        f"metpost retry {broadcast}")
    history = fleet.run(["history", "--json"])
    [record] = json.loads(history.stdout)["broadcasts"]
    assert record["id"] == broadcast
    assert record["states"] == {"failed": 1, "sent": 3}
    shown = json.loads(fleet.run(["show", broadcast[:12], "--json"]).stdout)
    assert {p["account"]: p["state"] for p in shown["posts"]} == {
        "hackney-x": "failed", "hackney-facebook": "sent", "camden-x": "sent",
        "camden-facebook": "sent"}


@pytest.mark.refuse_duplicates
@pytest.mark.parametrize("again", [False, True])
def test_identical_send_is_idempotent_unless_again(fleet, again):
    message = ["send", "--all", "--message", "{{ borough }} {{ n }}", "--var", "n=1", "--yes"]
    assert fleet.run(message).exit_code == 0
    second = fleet.run([*message, "--json", *(["--again"] if again else [])])
    if again:  # posted again on purpose: the platforms refuse the duplicate text
        assert set(statuses(second).values()) == {"failed"}
        errors = [p["error"] for p in json.loads(second.stdout)["posts"]]
        assert all("the same text is already live there as https://" in e for e in errors)
    else:
        assert set(statuses(second).values()) == {"already sent"}
        assert second.exit_code == 0
    assert len(fleet.x.live_posts()) == 2 and len(fleet.graph.live_posts()) == 2


def test_explicit_key_matches_a_rerun_even_if_the_text_changes(fleet):
    first = fleet.run(["send", "--all", "-m", "{{ borough }} at 03:00", "--key", "slot-0300",
                       "--yes"])
    assert first.exit_code == 0
    second = fleet.run(["send", "--all", "-m", "{{ borough }} at 03:01", "--key", "slot-0300",
                        "--yes", "--json"])
    assert set(statuses(second).values()) == {"already sent"}
    assert len(fleet.x.live_posts()) == 2


def test_retract_deletes_everywhere_and_counts_already_gone(fleet):
    assert fleet.run(SEND).exit_code == 0
    # Someone deleted two posts by hand already.
    fleet.x.live_posts("MPSHackney")[0].deleted = True
    fleet.graph.live_posts("1001")[0].deleted = True
    outcome = fleet.run(["retract", "last", "--yes", "--json"])
    assert outcome.exit_code == 0, outcome.stdout
    assert set(statuses(outcome).values()) == {"retracted"}
    assert fleet.x.live_posts() == [] and fleet.graph.live_posts() == []
    again = fleet.run(["retract", "last", "--yes", "--json"])
    assert again.exit_code == 0
    assert [r.method for r in fleet.x.requests].count("DELETE") == 2
    assert [r.method for r in fleet.graph.requests].count("DELETE") == 2


def test_retract_one_account_and_refuse_without_terminal(fleet):
    assert fleet.run(SEND).exit_code == 0
    refused = fleet.run(["retract", "last"])
    assert refused.exit_code == 2
    assert refused.error_lines == [
        "metpost: error: not on a terminal: add --yes to delete without confirmation"]
    outcome = fleet.run(["retract", "last", "--account", "camden-x", "--yes"])
    assert outcome.exit_code == 0
    assert len(fleet.x.live_posts("MPSCamden")) == 0
    assert len(fleet.x.live_posts("MPSHackney")) == 1


def test_a_scheduler_can_retry_by_its_own_key(fleet):
    fleet.x.revoke(fleet.x_token("hackney"))
    slot = ["send", "--all", "-m", "{{ borough }} nightly", "--key", "nightly-2026-11-24", "--yes"]
    assert fleet.run(slot).exit_code == 1
    fleet.x.revoked.clear()
    retried = fleet.run(["retry", "nightly-2026-11-24", "--yes", "--json"])
    assert retried.exit_code == 0
    assert statuses(retried)["hackney-x"] == "sent"
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


@pytest.mark.parametrize("platform", ["x", "facebook"])
def test_an_older_identical_post_is_not_mistaken_for_the_unknown_one(fleet, platform,
                                                                     tmp_path):
    fake = fleet.x if platform == "x" else fleet.graph
    fake.refuse_duplicates = False  # as if yesterday's identical post were long enough ago
    account = f"hackney-{platform}"
    send = ["send", "--account", account, "-m", "{{ borough }}: roads reopen at 6pm.",
            "--yes", "--json"]
    # Yesterday's post went out from another machine, so this ledger does not know it.
    yesterdays = fleet.run([*send, "--ledger", str(tmp_path / "elsewhere.sqlite3")])
    assert statuses(yesterdays) == {account: "sent"}
    yesterday = fake.posts[0]
    yesterday.created_at -= 86400
    # The new post's request is lost before the platform stores it: the older post with the
    # same words is not it, so it is posted.
    fake.refuse_next(1)
    [post] = json.loads(fleet.run([*send, "--again"]).stdout)["posts"]
    assert post["status"] == "sent"
    assert post["remote_id"] != yesterday.id
    assert len(fake.posts) == 2


@pytest.mark.parametrize("lost", ["dropped", "answered 503"])
@pytest.mark.parametrize("offset", [-60.0, -3600.0, 3600.0])
def test_a_post_whose_answer_was_lost_is_found_whatever_the_platforms_clock_says(
        fleet, offset, lost):
    # The platforms' clocks are a minute or an hour out from ours. A post they made, whose
    # answer was lost, is listed with a time on their clock: it is still found, not sent again
    # (the fakes take duplicates here). "dropped": no answer came, so nothing has shown the
    # platform's clock before the listing; "503": the error answer's Date has shown it.
    for fake in (fleet.x, fleet.graph):
        fake.clock_offset = offset
        if lost == "dropped":
            fake.drop_after_accept_next(1)
        else:
            fake.post_then_fail_next(1, status=503)
    outcome = fleet.run(SEND)
    assert outcome.exit_code == 0, outcome.stdout
    assert set(statuses(outcome).values()) == {"sent"}
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


@pytest.mark.parametrize("platform", ["x", "facebook"])
def test_a_platform_clock_ahead_of_ours_does_not_date_an_older_post_after_ours(fleet, platform,
                                                                               tmp_path):
    # Ten minutes ago, another machine posted the same words. The platform's clock is half an
    # hour ahead, so by its clock that post was made twenty minutes after our first attempt:
    # read onto our clock, it is older, and not taken for the post whose request was lost.
    fake = fleet.x if platform == "x" else fleet.graph
    fake.clock_offset = 1800.0
    account = f"hackney-{platform}"
    send = ["send", "--account", account, "-m", "{{ borough }}: roads reopen at 6pm.",
            "--yes", "--json"]
    earlier = fleet.run([*send, "--ledger", str(tmp_path / "elsewhere.sqlite3")])
    assert statuses(earlier) == {account: "sent"}
    [other] = fake.posts
    other.created_at -= 600
    fake.refuse_next(1)
    [post] = json.loads(fleet.run([*send, "--again"]).stdout)["posts"]
    assert post["status"] == "sent"
    assert post["remote_id"] != other.id
    assert len(fake.posts) == 2


def test_x_says_which_parameter_of_an_invalid_request_is_wrong(fleet):
    def invalid(_request) -> Reply:
        return Reply(400, {"errors": [{"parameters": {"text": ["…"]},
                                       "message": "Your Tweet text is too long."}],
                           "title": "Invalid Request",
                           "detail": "One or more parameters to your request was invalid.",
                           "type": "https://api.twitter.com/2/problems/invalid-request"},
                     content_type="application/problem+json")

    fleet.x.queue_fault(1, Fault("invalid", answer=invalid))
    outcome = fleet.run(["send", "--account", "hackney-x", *SEND[2:]])
    [post] = json.loads(outcome.stdout)["posts"]
    assert post["status"] == "failed"
    assert post["error"].endswith("One or more parameters to your request was invalid: Your "
                                  "Tweet text is too long.")


def test_a_platform_that_stalls_holds_up_no_other_platforms_posts(fleet):
    # One request at a time per platform. X's first answer is three seconds late: its second
    # post waits for it, as --concurrency 1 says, but Facebook's posts go out meanwhile, one
    # after the other, not queued behind X's waiting post.
    fleet.x.stall_next(1, seconds=3.0)
    outcome = fleet.run([*SEND, "--concurrency", "1"])
    assert outcome.exit_code == 0, outcome.stdout
    stalled = next(r for r in fleet.x.requests if r.method == "POST")
    facebook = [r for r in fleet.graph.requests if r.method == "POST"]
    assert len(facebook) == 2
    assert all(r.answered_at is not None and r.answered_at < stalled.answered_at - 1
               for r in facebook), (stalled, facebook)
    assert fleet.x.max_in_flight == fleet.graph.max_in_flight == 1
    assert_exactly_one_post_each_and_ledger_agrees(fleet)
