"""Bluesky over real HTTP against a fake PDS, through the real atproto SDK: one record per post
under a record key of metpost's choosing, written the same way on every attempt and read back
before any resend, one session per account per run, errors and rate limits the XRPC way."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from metpost.platforms.api import Destination, PostRequest, PublishError
from metpost.platforms.bluesky import BlueskyPlatform, created_at, record_key
from tests.conftest import Outcome, run, write_project
from tests.fake_platforms.bluesky_api import FakeBluesky, record_cid
from tests.fake_platforms.server import Fault, Reply

ACCOUNTS = {"hackney": ("did:plc:hackney0000000000000001", "hackney-app-pass-s3cret"),
            "camden": ("did:plc:camden00000000000000002", "camden-app-pass-s3cret")}
MESSAGE = ["--message", "{{ borough }}: roads reopen at 6pm.", "--yes", "--json"]
PUT = "/xrpc/com.atproto.repo.putRecord"
GET = "/xrpc/com.atproto.repo.getRecord"
SESSION = "/xrpc/com.atproto.server.createSession"


@dataclass
class Pds:
    fake: FakeBluesky
    config: Path
    ledger: Path
    env: dict[str, str]

    def run(self, args: list[str]) -> Outcome:
        command, *rest = args
        extra = ["--config", str(self.config)]
        if command in ("send", "retry", "retract"):
            extra += ["--ledger", str(self.ledger)]
        return run([command, *extra, *rest], env=self.env)

    def send(self, *more: str, account: str | None = None) -> Outcome:
        chosen = ["--account", account] if account else ["--all"]
        return self.run(["send", *chosen, *MESSAGE, *more])

    def posts(self, outcome: Outcome) -> dict[str, dict]:
        return {p["account"]: p for p in json.loads(outcome.stdout)["posts"]}

    def requests_to(self, path: str) -> list:
        return [r for r in self.fake.requests if r.path == path]

    def ledger_post(self, account: str) -> tuple:
        return sqlite3.connect(self.ledger).execute(
            "SELECT state, remote_id, idempotency_key, first_attempt_at FROM posts WHERE "
            "account = ?", (account,)).fetchone()


@pytest.fixture
def pds(tmp_path):
    with FakeBluesky() as fake:
        for slug, (did, password) in ACCOUNTS.items():
            fake.add_account(did, f"mps{slug}.bsky.social", password)
        fake.add_account("did:plc:central0000000000000003", "metpoliceuk.bsky.social", "x" * 12)
        accounts = "".join(f"""
  - name: {slug}-bluesky
    platform: bluesky
    handle: mps{slug}.bsky.social
    borough: {slug.title()}
    api_url: {fake.url}
    credentials: {{app_password: '${{{slug.upper()}_BSKY_PASSWORD}}'}}""" for slug in ACCOUNTS)
        config = write_project(tmp_path / "project", "boroughs: [{name: Hackney, bcu: CE}, "
                               "{name: Camden, bcu: CN}]\naccounts:" + accounts + "\n")
        env = {f"{slug.upper()}_BSKY_PASSWORD": password
               for slug, (_, password) in ACCOUNTS.items()}
        yield Pds(fake, config, tmp_path / "ledger.sqlite3", env)


def one_post_each(pds: Pds) -> None:
    """Each account holds exactly one post, never rewritten, and the ledger names it."""
    for slug, (did, _) in ACCOUNTS.items():
        [rkey] = pds.fake.post_keys(f"mps{slug}.bsky.social")
        state, remote_id, _, _ = pds.ledger_post(f"{slug}-bluesky")
        assert (state, remote_id) == ("sent", f"at://{did}/app.bsky.feed.post/{rkey}")
    assert pds.fake.updates == 0


# -- what goes out -------------------------------------------------------------------------------

def test_a_post_is_one_record_under_a_key_from_its_idempotency_key_and_first_attempt(pds):
    text = ("Café 🚓 closed: met.police.uk/roads and https://example.org/x. "
            "Thanks @metpoliceuk.bsky.social and @nobody.bsky.social #Hackney")
    outcome = pds.run(["send", "--account", "hackney-bluesky", "-m", text, "--yes", "--json"])
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    [record] = pds.fake.posts("mpshackney.bsky.social")
    [rkey] = pds.fake.post_keys("mpshackney.bsky.social")
    _, remote_id, key, first = pds.ledger_post("hackney-bluesky")
    assert rkey == record_key(key, first)
    assert record["createdAt"] == created_at(first)
    assert datetime.fromisoformat(record["createdAt"]) - datetime.fromtimestamp(first, UTC) < (
        timedelta(milliseconds=1))
    [post] = pds.posts(outcome).values()
    assert post["url"] == f"https://bsky.app/profile/mpshackney.bsky.social/post/{rkey}"
    assert post["remote_id"] == remote_id
    encoded = text.encode("utf-8")
    facets = {encoded[f["index"]["byteStart"]:f["index"]["byteEnd"]].decode(): f["features"][0]
              for f in record["facets"]}
    assert facets == {
        "met.police.uk/roads": {"$type": "app.bsky.richtext.facet#link",
                                "uri": "https://met.police.uk/roads"},
        "https://example.org/x": {"$type": "app.bsky.richtext.facet#link",
                                  "uri": "https://example.org/x"},
        "@metpoliceuk.bsky.social": {"$type": "app.bsky.richtext.facet#mention",
                                     "did": "did:plc:central0000000000000003"},
        "#Hackney": {"$type": "app.bsky.richtext.facet#tag", "tag": "Hackney"},
    }
    assert len(pds.requests_to(SESSION)) == 1


def test_a_rerun_sends_nothing(pds):
    assert pds.send().exit_code == 0
    before = pds.fake.request_count
    rerun = pds.send()
    assert {p["status"] for p in pds.posts(rerun).values()} == {"already sent"}
    assert pds.fake.request_count == before
    one_post_each(pds)


@pytest.mark.parametrize("fault", ["post_then_fail_500", "post_then_fail_502",
                                   "post_then_fail_503", "post_then_fail_504", "drop"])
def test_an_error_after_the_record_was_written_is_read_back_not_written_twice(pds, fault):
    if fault == "drop":
        pds.fake.drop_after_accept_next(2)
    else:
        pds.fake.post_then_fail_next(2, status=int(fault.rsplit("_", 1)[1]))
    outcome = pds.send()
    assert outcome.exit_code == 0, outcome.stdout
    assert {p["status"] for p in pds.posts(outcome).values()} == {"sent"}
    one_post_each(pds)
    assert len(pds.requests_to(PUT)) == 2  # one per account: the resend found its record
    assert [r.status for r in pds.requests_to(GET)] == [200, 200]
    assert len(pds.requests_to(SESSION)) == 2  # one session per account, for both attempts


def test_a_post_left_unknown_is_found_by_its_record_key_in_the_next_run(pds):
    pds.fake.drop_after_accept_next(1)
    pds.fake.fail_reads_next(100, status=503)  # nothing can confirm it in this run
    first = pds.send("--deadline", "1", account="hackney-bluesky")
    pds.fake.clear_faults()
    [post] = pds.posts(first).values()
    assert post["status"] == "unknown", post
    assert post["error"].endswith("a rerun resends it with the same idempotency key, which "
                                  "cannot post twice)")
    [written] = pds.fake.post_keys("mpshackney.bsky.social")
    puts = len(pds.requests_to(PUT))
    retried = pds.run(["retry", "last", "--yes", "--json"])
    assert retried.exit_code == 0, retried.stdout
    [post] = pds.posts(retried).values()
    assert post["status"] == "sent"
    assert post["remote_id"].endswith(f"/{written}")
    assert pds.fake.post_keys("mpshackney.bsky.social") == [written]
    assert len(pds.requests_to(PUT)) == puts  # read back, not written again


def test_every_attempt_writes_the_same_bytes_and_the_pds_takes_a_resend_for_a_no_op(pds):
    first_attempt = time.time() - 5
    request = PostRequest(text="Hackney: roads reopen @metpoliceuk.bsky.social",
                          idempotency_key="k-1", first_attempt_at=first_attempt)

    def client() -> BlueskyPlatform:
        return BlueskyPlatform(Destination(
            account="hackney-bluesky", handle="mpshackney.bsky.social",
            credentials={"app_password": ACCOUNTS["hackney"][1]}, api_url=pds.fake.url))

    # Two runs that each believe they make the first attempt write the post, one after the other.
    one, two = client(), client()
    one._started = two._started = first_attempt - 1
    receipts = {one.publish(request).remote_id, two.publish(request).remote_id}
    puts = pds.requests_to(PUT)
    assert len(puts) == 2 and puts[0].body == puts[1].body
    assert len(receipts) == 1 and pds.fake.updates == 0
    assert len(pds.fake.post_keys("mpshackney.bsky.social")) == 1
    # A client of a later run reads the record back instead.
    three = client()
    assert three.publish(request).remote_id in receipts
    assert len(pds.requests_to(PUT)) == 2


def test_a_record_identical_to_the_stored_one_is_a_no_op_at_the_pds(pds):
    record = {"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2026-11-24T07:00:00Z"}
    assert record_cid(record) == record_cid(dict(reversed(list(record.items()))))
    assert record_cid(record) != record_cid({**record, "text": "hi!"})


def test_a_different_record_under_the_key_is_never_overwritten(pds):
    request = PostRequest(text="Hackney: roads reopen", idempotency_key="k-2",
                          first_attempt_at=time.time() - 60)
    destination = Destination(account="hackney-bluesky", handle="mpshackney.bsky.social",
                              credentials={"app_password": ACCOUNTS["hackney"][1]},
                              api_url=pds.fake.url)
    BlueskyPlatform(destination).publish(request)
    with pytest.raises(PublishError) as caught:
        BlueskyPlatform(destination).publish(replace(request, text="Something else"))
    assert str(caught.value).startswith("Bluesky holds another post under this post's record key")
    assert pds.fake.updates == 0
    assert [r["text"] for r in pds.fake.posts("mpshackney.bsky.social")] == [
        "Hackney: roads reopen"]


# -- limits, credentials, sessions -----------------------------------------------------------------

def test_a_rate_limit_waits_for_its_reset_within_the_deadline(pds):
    pds.fake.rate_limit_next(1, reset_in=1.5)
    outcome = pds.send(account="hackney-bluesky")
    assert outcome.exit_code == 0, outcome.stdout
    puts = pds.requests_to(PUT)
    assert [r.status for r in puts] == [429, 200]
    assert puts[1].received_at - puts[0].received_at > 0.4


def test_a_rate_limit_reset_is_read_on_the_servers_clock(pds):
    pds.fake.clock_offset = 3600.0  # the PDS's clock is an hour ahead of ours
    pds.fake.rate_limit_next(1, reset_in=1.5)
    outcome = pds.send("--deadline", "20", account="hackney-bluesky")
    assert outcome.exit_code == 0, outcome.stdout
    puts = pds.requests_to(PUT)
    assert [r.status for r in puts] == [429, 200]
    assert 0.4 < puts[1].received_at - puts[0].received_at < 5


def test_a_rate_limit_beyond_the_deadline_fails_with_its_reset_time(pds):
    pds.fake.rate_limit_next(1, reset_in=3600)
    started = time.monotonic()
    outcome = pds.send("--deadline", "20", account="hackney-bluesky")
    assert time.monotonic() - started < 5
    [post] = pds.posts(outcome).values()
    assert post["status"] == "failed"
    assert post["error"].startswith("rate limited until ")
    assert post["error"].endswith("(Bluesky, mpshackney.bsky.social)")


def test_a_revoked_app_password_fails_at_once_and_is_never_printed(pds):
    pds.fake.revoke(ACCOUNTS["camden"][1])
    outcome = pds.send()
    posts = pds.posts(outcome)
    assert posts["hackney-bluesky"]["status"] == "sent"
    assert posts["camden-bluesky"]["status"] == "failed"
    assert posts["camden-bluesky"]["error"] == (
        "Bluesky refused the app password or session: AuthenticationRequired: Invalid "
        "identifier or password")
    assert pds.fake.sessions_created["mpscamden.bsky.social"] == 1
    assert pds.fake.post_keys("mpscamden.bsky.social") == []
    assert ACCOUNTS["camden"][1] not in outcome.stdout + outcome.stderr


def test_a_server_error_when_logging_in_is_retried_as_nothing_was_posted(pds):
    pds.fake.queue_fault(1, Fault("session_down", answer=lambda _r: pds.fake.error_reply(503),
                                  paths=frozenset({SESSION})))
    outcome = pds.send(account="hackney-bluesky")
    assert outcome.exit_code == 0, outcome.stdout
    assert [r.status for r in pds.requests_to(SESSION)] == [503, 200]
    assert len(pds.fake.post_keys("mpshackney.bsky.social")) == 1


def test_a_pds_that_cannot_log_in_fails_the_post_as_never_sent(pds):
    pds.fake.queue_fault(100, Fault("session_down", answer=lambda _r: pds.fake.error_reply(503),
                                    paths=frozenset({SESSION})))
    outcome = pds.send("--deadline", "1", account="hackney-bluesky")
    [post] = pds.posts(outcome).values()
    assert post["status"] == "failed", post  # nothing was written: not "unknown"
    assert post["error"].startswith("Bluesky server error: NotEnoughResources")
    assert pds.requests_to(PUT) == []


def test_a_session_the_pds_calls_expired_is_opened_again_and_the_post_made(pds):
    # The PDS refuses the session's token (its clock ahead of ours, or the session ended
    # there): that is no fault of the app password. metpost logs in again, once, and posts.
    pds.fake.queue_fault(1, Fault("expired", paths=frozenset({PUT}), answer=lambda _r: Reply(
        400, {"error": "ExpiredToken", "message": "Token has expired"})))
    outcome = pds.send(account="hackney-bluesky")
    assert outcome.exit_code == 0, outcome.stdout
    assert pds.fake.sessions_created == {"mpshackney.bsky.social": 2}
    assert len(pds.fake.post_keys("mpshackney.bsky.social")) == 1


def test_a_client_logs_in_again_only_once_however_often_its_session_is_called_expired(pds):
    # A PDS whose clock runs far ahead calls every session expired: each of a run's calls
    # must not open a new one (createSession is limited to 30 in 5 minutes).
    client = BlueskyPlatform(Destination(
        account="hackney-bluesky", handle="mpshackney.bsky.social",
        credentials={"app_password": ACCOUNTS["hackney"][1]}, api_url=pds.fake.url))
    expired = Fault("expired", paths=frozenset({PUT}), answer=lambda _r: Reply(
        400, {"error": "ExpiredToken", "message": "Token has expired"}))
    pds.fake.queue_fault(1, expired)
    client.publish(PostRequest(text="First", idempotency_key="k-first"))
    assert pds.fake.sessions_created == {"mpshackney.bsky.social": 2}
    pds.fake.queue_fault(1, expired)
    with pytest.raises(PublishError, match="ExpiredToken"):
        client.publish(PostRequest(text="Second", idempotency_key="k-second"))
    assert pds.fake.sessions_created == {"mpshackney.bsky.social": 2}


def test_a_session_expired_again_after_logging_in_again_fails_without_a_loop(pds):
    pds.fake.queue_fault(5, Fault("expired", paths=frozenset({PUT}), answer=lambda _r: Reply(
        400, {"error": "ExpiredToken", "message": "Token has expired"})))
    outcome = pds.send(account="hackney-bluesky")
    [post] = pds.posts(outcome).values()
    assert post["status"] == "failed" and "ExpiredToken" in post["error"], post
    assert pds.fake.sessions_created == {"mpshackney.bsky.social": 2}
    assert pds.fake.post_keys("mpshackney.bsky.social") == []


def test_one_session_per_account_per_run(pds):
    pds.fake.post_then_fail_next(1, status=500)  # a retry within the run reuses the session
    assert pds.send().exit_code == 0
    assert pds.fake.sessions_created == {"mpshackney.bsky.social": 1, "mpscamden.bsky.social": 1}
    assert pds.run(["retract", "last", "--yes"]).exit_code == 0
    assert pds.fake.sessions_created == {"mpshackney.bsky.social": 2, "mpscamden.bsky.social": 2}


def test_retract_deletes_the_records_and_one_already_gone_counts_as_deleted(pds):
    assert pds.send().exit_code == 0
    hackney = pds.fake.repos[ACCOUNTS["hackney"][0]]
    hackney.records.clear()  # deleted from the app first
    hackney.cids.clear()
    outcome = pds.run(["retract", "last", "--yes", "--json"])
    assert outcome.exit_code == 0, outcome.stdout
    assert {p["status"] for p in pds.posts(outcome).values()} == {"retracted"}
    assert pds.fake.post_keys("mpscamden.bsky.social") == []


def test_recent_posts_lists_the_accounts_records_newest_first(pds):
    client = BlueskyPlatform(Destination(
        account="hackney-bluesky", handle="mpshackney.bsky.social",
        credentials={"app_password": ACCOUNTS["hackney"][1]}, api_url=pds.fake.url))
    now = time.time()
    for number, age in enumerate((300, 200, 100)):
        client.publish(PostRequest(text=f"post {number}", idempotency_key=f"k{number}",
                                   first_attempt_at=now - age))
    since = datetime.fromtimestamp(now - 250, UTC)
    listed = client.recent_posts(since)
    assert [p.text for p in listed] == ["post 2", "post 1"]
    assert all(p.created_at and p.created_at >= since for p in listed)
    assert [p.text for p in client.recent_posts(datetime.fromtimestamp(0, UTC), limit=2)] == [
        "post 2", "post 1"]


@pytest.mark.parametrize("text, problems", [
    ("🚓" * 300, []),
    ("🚓" * 301, ["too long for Bluesky: 301/300 graphemes (1 over)"]),
    ("👨‍👩‍👧" * 200, ["too long for Bluesky: 3600/3000 bytes of UTF-8 (600 over)"]),
    ("e\u0301" * 300, []),
])
def test_limits_are_graphemes_and_bytes(text, problems):
    assert BlueskyPlatform.check(text) == problems


@pytest.mark.parametrize("handle, problem", [
    ("'@mpshackney.bsky.social'", "write the handle without '@', as mpshackney.bsky.social: "
                                   "Bluesky logs in with it"),
    ("mpshackney", "'mpshackney' is not a Bluesky handle like mpshackney.bsky.social"),
])
def test_the_handle_is_checked_when_the_config_loads(tmp_path, handle, problem):
    config = write_project(tmp_path, f"accounts:\n  - name: b\n    platform: bluesky\n"
                           f"    handle: {handle}\n    credentials: {{app_password: '${{P}}'}}\n")
    outcome = run(["check", "--config", str(config)])
    assert outcome.exit_code == 2
    [line] = outcome.error_lines
    assert line.endswith(f"accounts[0].handle: {problem}"), line


def test_the_record_key_is_a_tid():
    key = record_key("0" * 64, 1_800_000_000.5)
    assert len(key) == 13 and key[0] in "234567abcdefghij"
    assert record_key("0" * 64, 1_800_000_000.5) == key
    assert record_key("1" * 64, 1_800_000_000.5) != key
    assert record_key("0" * 64, 1_800_000_001.5) > key  # later keys sort later


@pytest.mark.parametrize("text, count", [
    ("abc", 3), ("e\u0301", 1), ("a\r\nb", 3), ("\n\u0301", 2), ("x\u200dy", 2),
    ("\U0001F1EC\U0001F1E7\U0001F1EB\U0001F1F7", 2),  # two flags
    ("\U0001F1E6\U0001F1E6\U0001F1E6", 2),  # regional indicators pair up, known flag or not
    ("\U0001F468\u200d\U0001F469\u200d\U0001F467", 1), ("\U0001F44D\U0001F3FD", 1),
    ("\u1100\u1161\u11a8", 1), ("\ud55c\uad6d\uc5b4", 3),  # Hangul from jamo; syllables
])
def test_graphemes_are_counted_as_people_see_them(text, count):
    assert BlueskyPlatform.length(text) == count
