"""Mastodon over real HTTP against a fake instance, through the real Mastodon.py: every status
exactly once (an Idempotency-Key within the hour, a look at the account after it), rate limits
the Mastodon way, errors in Mastodon's words, HTML read back as text."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from metpost.platforms.api import Destination, PostRequest, RemotePost
from metpost.platforms.mastodon import MastodonPlatform, content_text
from tests.conftest import Outcome, run, write_project
from tests.fake_platforms.mastodon_api import FakeMastodon

TOKENS = {"hackney": "hackney-mastodon-t0ken-s3cret", "camden": "camden-mastodon-t0ken-s3cret"}
MESSAGE = ["--message", "{{ borough }}: roads reopen at 6pm.", "--yes", "--json"]


@dataclass
class Instance:
    fake: FakeMastodon
    config: Path
    ledger: Path
    env: dict[str, str]

    def run(self, args: list[str], env: dict[str, str] | None = None) -> Outcome:
        command, *rest = args
        extra = ["--config", str(self.config)]
        if command in ("send", "retry", "retract"):
            extra += ["--ledger", str(self.ledger)]
        return run([command, *extra, *rest], env={**self.env, **(env or {})})

    def send(self, *more: str) -> Outcome:
        return self.run(["send", "--all", *MESSAGE, *more])

    def posts(self, outcome: Outcome) -> dict[str, dict]:
        return {p["account"]: p for p in json.loads(outcome.stdout)["posts"]}

    def ledger_rows(self) -> dict[str, tuple]:
        rows = sqlite3.connect(self.ledger).execute(
            "SELECT account, state, remote_id, attempts FROM posts").fetchall()
        return {account: tuple(rest) for account, *rest in rows}


def config_text(url: str, extra: str = "") -> str:
    accounts = "".join(f"""
  - name: {slug}-mastodon
    platform: mastodon
    handle: "@mps{slug}@social.example"
    borough: {slug.title()}
    api_url: {url}{extra}
    credentials: {{access_token: '${{{slug.upper()}_MASTODON_TOKEN}}'}}""" for slug in TOKENS)
    return ("boroughs: [{name: Hackney, bcu: CE}, {name: Camden, bcu: CN}]\naccounts:"
            + accounts + "\n")


@pytest.fixture
def instance(tmp_path):
    with FakeMastodon() as fake:
        for number, (slug, token) in enumerate(TOKENS.items(), start=1001):
            fake.add_account(str(number), f"mps{slug}", token)
        config = write_project(tmp_path / "project", config_text(fake.url))
        env = {f"{slug.upper()}_MASTODON_TOKEN": token for slug, token in TOKENS.items()}
        yield Instance(fake, config, tmp_path / "ledger.sqlite3", env)


def one_status_each(instance: Instance) -> dict[str, str]:
    """Each account has exactly one status, which the ledger records as sent."""
    live = {f"{slug}-mastodon": instance.fake.live_statuses(f"mps{slug}") for slug in TOKENS}
    assert {name: len(statuses) for name, statuses in live.items()} == dict.fromkeys(live, 1)
    rows = instance.ledger_rows()
    assert {name: rows[name][:2] for name in live} == {
        name: ("sent", statuses[0].id) for name, statuses in live.items()}
    return {name: statuses[0].id for name, statuses in live.items()}


# -- what goes out -------------------------------------------------------------------------------

def test_each_status_carries_its_post_idempotency_key_and_a_rerun_sends_nothing(instance):
    outcome = instance.send()
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    ids = one_status_each(instance)
    posts = instance.posts(outcome)
    assert posts["hackney-mastodon"]["url"] == (
        f"https://social.example/@mpshackney/{ids['hackney-mastodon']}")
    [request] = [r for r in instance.fake.requests if r.method == "POST"
                 and r.headers["authorization"] == f"Bearer {TOKENS['hackney']}"]
    key = sqlite3.connect(instance.ledger).execute(
        "SELECT idempotency_key FROM posts WHERE account = 'hackney-mastodon'").fetchone()[0]
    assert request.headers["idempotency-key"] == key
    assert request.form()["status"] == "Hackney: roads reopen at 6pm."
    before = instance.fake.request_count
    rerun = instance.send()
    assert {p["status"] for p in instance.posts(rerun).values()} == {"already sent"}
    assert instance.fake.request_count == before


def test_an_error_from_mastodon_itself_after_the_status_was_made_is_resent_with_the_key(
        instance):
    # A 500 from Mastodon itself: the instance is done with the request, and it stored the
    # Idempotency-Key with the status it made, so the resend gets that status back.
    instance.fake.post_then_fail_next(2, status=500)
    outcome = instance.send()
    assert outcome.exit_code == 0, outcome.stdout
    one_status_each(instance)
    posts = [r for r in instance.fake.requests if r.method == "POST"]
    assert len(posts) == 4  # each account: the one that was lost, and its resend
    by_key: dict[str, int] = {}
    for request in posts:
        by_key[request.headers["idempotency-key"]] = by_key.get(
            request.headers["idempotency-key"], 0) + 1
    assert sorted(by_key.values()) == [2, 2]
    # Nothing was looked up: within the hour the key alone prevents a second status.
    assert not [r for r in instance.fake.requests if r.method == "GET"]


@pytest.mark.parametrize("fault", ["post_then_fail_502", "post_then_fail_503",
                                   "post_then_fail_504", "drop"])
def test_a_lost_answer_is_not_resent_while_mastodon_may_still_be_making_it(instance, fault):
    # No answer, or a proxy's: the instance may still be working on the request, and until it
    # is done it has not stored the key. Within the run's deadline it is left unknown.
    if fault == "drop":
        instance.fake.drop_after_accept_next(2)
    else:
        instance.fake.post_then_fail_next(2, status=int(fault.rsplit("_", 1)[1]))
    outcome = instance.send()
    assert outcome.exit_code == 1, outcome.stdout
    assert {p["status"] for p in instance.posts(outcome).values()} == {"unknown"}
    assert len([r for r in instance.fake.requests if r.method == "POST"]) == 2
    for post in instance.posts(outcome).values():
        assert "cannot post twice once this request is over" in post["error"]
        # Said once: "may have gone out" is not followed by "may have been posted".
        assert ("may have gone out" in post["error"]) != ("may have been posted" in
                                                          post["error"]), post["error"]
    # Once the request must be over, the rerun resends with the key: no second status.
    made_a_minute_ago(instance)
    retried = instance.run(["retry", "last", "--yes", "--json"])
    assert retried.exit_code == 0, retried.stdout
    one_status_each(instance)


def made_a_minute_ago(instance: Instance) -> None:
    """Move the ledger's record of the last attempts back past Mastodon's in-flight time."""
    from metpost.platforms.mastodon import IN_FLIGHT_FOR

    db = sqlite3.connect(instance.ledger)
    with db:
        for post_id, updated_at in db.execute("SELECT id, updated_at FROM posts").fetchall():
            earlier = datetime.fromisoformat(updated_at) - timedelta(seconds=IN_FLIGHT_FOR + 1)
            db.execute("UPDATE posts SET updated_at = ? WHERE id = ?",
                       (earlier.isoformat(), post_id))
    db.close()


def test_a_resend_waits_while_a_slow_instance_is_still_making_the_first_status(instance):
    # The instance takes 3 s to make the status, and stores the key only then; the answer is
    # lost after 1 s. A resend at once would find no key and make a second status.
    instance.fake.slow_to_make_next(1, seconds=3)
    outcome = instance.run(["send", "--account", "hackney-mastodon", *MESSAGE,
                            "--read-timeout", "1", "--deadline", "8"])
    [post] = instance.posts(outcome).values()
    assert post["status"] == "unknown", post
    time.sleep(3)  # the first request is made by now
    assert len(instance.fake.live_statuses("mpshackney")) == 1
    # An immediate retry says when it can resend, rather than wait a silent minute.
    early = instance.run(["retry", "last", "--yes", "--json"])
    [post] = instance.posts(early).values()
    assert post["status"] == "unknown" and "may still be making it" in post["error"], post
    assert len([r for r in instance.fake.requests if r.method == "POST"]) == 1
    made_a_minute_ago(instance)
    later = instance.run(["retry", "last", "--yes", "--json"])
    assert later.exit_code == 0, later.stdout
    assert len(instance.fake.live_statuses("mpshackney")) == 1


def test_a_status_that_may_exist_is_never_reported_failed(instance):
    instance.fake.post_then_fail_next(100, status=503)  # made, then every answer is an error
    outcome = instance.run(["send", "--account", "hackney-mastodon", *MESSAGE,
                            "--deadline", "1"])
    [post] = instance.posts(outcome).values()
    assert post["status"] == "unknown", post
    assert post["error"].startswith("Mastodon server error: There was a temporary problem")
    assert len(instance.fake.live_statuses("mpshackney")) == 1


def test_a_rate_limit_waits_for_the_iso_reset_when_the_deadline_allows(instance):
    instance.fake.rate_limit_next(1, reset_in=1.0)
    started = time.monotonic()
    outcome = instance.run(["send", "--account", "hackney-mastodon", *MESSAGE])
    assert outcome.exit_code == 0, outcome.stdout
    posts = [r for r in instance.fake.requests if r.method == "POST"]
    assert [r.status for r in posts] == [429, 200]
    waited = posts[1].received_at - posts[0].received_at
    assert 0.5 < waited < 5 and time.monotonic() - started < 10


def test_a_rate_limit_reset_is_read_on_the_instances_clock(instance):
    instance.fake.clock_offset = 3600.0  # the instance's clock is an hour ahead of ours
    instance.fake.rate_limit_next(1, reset_in=1.0)
    outcome = instance.run(["send", "--account", "hackney-mastodon", *MESSAGE, "--deadline", "20"])
    assert outcome.exit_code == 0, outcome.stdout
    posts = [r for r in instance.fake.requests if r.method == "POST"]
    assert [r.status for r in posts] == [429, 200]
    assert 0.5 < posts[1].received_at - posts[0].received_at < 5


def test_a_rate_limit_beyond_the_deadline_fails_at_once_and_mastodon_py_never_sleeps(instance):
    instance.fake.rate_limit_next(1, reset_in=600)
    started = time.monotonic()
    outcome = instance.run(["send", "--account", "hackney-mastodon", *MESSAGE,
                            "--deadline", "30"])
    assert time.monotonic() - started < 5
    [post] = instance.posts(outcome).values()
    assert post["status"] == "failed"
    assert post["error"].startswith("rate limited until ")
    assert post["error"].endswith("(Mastodon, @mpshackney@social.example)")
    assert [r.method for r in instance.fake.requests].count("POST") == 1


def test_a_revoked_token_fails_at_once_in_mastodons_words(instance):
    instance.fake.revoke(TOKENS["camden"])
    outcome = instance.send()
    assert outcome.exit_code == 1
    posts = instance.posts(outcome)
    assert posts["hackney-mastodon"]["status"] == "sent"
    assert posts["camden-mastodon"]["status"] == "failed"
    assert posts["camden-mastodon"]["error"] == (
        "Mastodon refused the access token (revoked or wrong): The access token is invalid")
    assert instance.fake.live_statuses("mpscamden") == []
    camden = [r for r in instance.fake.requests
              if r.headers.get("authorization") == f"Bearer {TOKENS['camden']}"]
    assert len(camden) == 1
    assert TOKENS["camden"] not in outcome.stdout + outcome.stderr


def test_an_instance_with_a_lower_limit_refuses_the_status_in_its_words(instance):
    instance.fake.max_characters = 20
    outcome = instance.run(["send", "--account", "hackney-mastodon", *MESSAGE])
    [post] = instance.posts(outcome).values()
    assert post["status"] == "failed"
    assert post["error"] == ("Mastodon refused the post: Validation failed: Text character "
                             "limit of 20 exceeded")


def test_the_accounts_max_characters_is_checked_before_anything_is_sent(instance):
    instance.config.write_text(config_text(instance.fake.url, "\n    max_characters: '20'"),
                               encoding="utf-8")
    outcome = instance.run(["send", "--all", *MESSAGE])
    assert outcome.exit_code == 2
    assert instance.fake.request_count == 0
    dry = instance.run(["send", "--all", "--dry-run", "--json", "-m",
                        "{{ borough }} https://www.met.police.uk/area/" + "x" * 40])
    posts = {p["account"]: p for p in json.loads(dry.stdout)["posts"]}
    assert (posts["hackney-mastodon"]["length"], posts["hackney-mastodon"]["limit"]) == (31, 20)
    assert posts["hackney-mastodon"]["problems"] == [
        "too long for Mastodon: 31/20 characters (11 over)"]


# -- after the hour --------------------------------------------------------------------------------

def leave_hackney_unknown(instance: Instance) -> str:
    """A first run whose every answer is lost: the status exists, the ledger says unknown."""
    instance.fake.drop_after_accept_next(100)
    outcome = instance.run(["send", "--account", "hackney-mastodon", *MESSAGE,
                            "--deadline", "1"])
    instance.fake.clear_faults()
    [post] = instance.posts(outcome).values()
    assert post["status"] == "unknown", post
    [status] = instance.fake.live_statuses("mpshackney")
    return status.id


def test_within_the_hour_an_unknown_status_is_resent_with_its_key(instance):
    made = leave_hackney_unknown(instance)
    made_a_minute_ago(instance)  # once the lost request must be over
    retried = instance.run(["retry", "last", "--yes", "--json"])
    assert retried.exit_code == 0, retried.stdout
    [post] = instance.posts(retried).values()
    assert (post["status"], post["remote_id"]) == ("sent", made)
    assert [s.id for s in instance.fake.live_statuses("mpshackney")] == [made]
    assert not [r for r in instance.fake.requests if "/statuses" in r.path
                and r.method == "GET"]


def test_past_the_hour_an_unknown_status_is_looked_for_not_resent(instance):
    made = leave_hackney_unknown(instance)
    instance.fake.forget_idempotency_keys()
    db = sqlite3.connect(instance.ledger)
    with db:
        db.execute("UPDATE posts SET first_attempt_at = first_attempt_at - 7200")
    posts_before = [r.method for r in instance.fake.requests].count("POST")
    retried = instance.run(["retry", "last", "--yes", "--json"])
    assert retried.exit_code == 0, retried.stdout
    [post] = instance.posts(retried).values()
    assert (post["status"], post["remote_id"]) == ("already sent", made)
    assert [s.id for s in instance.fake.live_statuses("mpshackney")] == [made]
    assert [r.method for r in instance.fake.requests].count("POST") == posts_before
    assert any(r.path == "/api/v1/accounts/1001/statuses" for r in instance.fake.requests)


# -- retract ---------------------------------------------------------------------------------------

def test_retract_deletes_and_a_status_already_gone_counts_as_deleted(instance):
    assert instance.send().exit_code == 0
    gone = instance.fake.live_statuses("mpscamden")[0]
    gone.deleted = True  # someone deleted it by hand first
    outcome = instance.run(["retract", "last", "--yes", "--json"])
    assert outcome.exit_code == 0, outcome.stdout
    assert {p["status"] for p in instance.posts(outcome).values()} == {"retracted"}
    assert instance.fake.live_statuses() == []
    deletes = [r for r in instance.fake.requests if r.method == "DELETE"]
    assert sorted(r.status for r in deletes) == [200, 404]


# -- reading Mastodon's HTML -----------------------------------------------------------------------

LONG = "https://www.met.police.uk/area/your-area/met/hackney/roads-now/"


@pytest.mark.parametrize("ours, listed_as, same", [
    (f"Roads reopen: {LONG}", None, True),
    ("Line one\nline two\n\nA new paragraph", None, True),
    ("Fish & chips <3 \"quoted\" it's", None, True),
    ("Thanks @metpoliceuk@mastodon.social and @mpscamden", None, True),
    ("Hello @someone@nowhere.example", None, True),  # not resolved: left as written
    ("Roads reopen #Hackney", None, True),
    ("Roads reopen at 6pm", "Roads reopen at 7pm", False),
    (f"See {LONG}", f"See {LONG}x", False),
])
def test_same_post_reads_the_html_mastodon_makes(instance, ours, listed_as, same):
    instance.fake.remote_accounts.add("metpoliceuk@mastodon.social")
    html = instance.fake.content_html(listed_as or ours)
    client = MastodonPlatform(Destination(account="hackney-mastodon",
                                          settings={"api_url": instance.fake.url}))
    listed = RemotePost(remote_id="1", text=content_text(html))
    assert client.same_post(PostRequest(text=ours, idempotency_key="k"), listed) is same


def test_content_text_keeps_links_whole_and_paragraphs_apart():
    html = ('<p>Roads &amp; lanes: <a href="https://a.example/long/path"><span class="invisible">'
            'https://</span><span class="ellipsis">a.example/lo</span><span class="invisible">'
            'ng/path</span></a></p><p>Next<br />line</p>')
    assert content_text(html) == "Roads & lanes: https://a.example/long/path\n\nNext\nline"


# -- length and configuration ----------------------------------------------------------------------

@pytest.mark.parametrize("text, length", [
    ("abc", 3),
    ("see https://www.met.police.uk/" + "a" * 60, 4 + 23),
    ("bare met.police.uk/roads stays text", 35),
    ("@metpoliceuk@mastodon.social hi", len("@metpoliceuk hi")),
    ("Cafe\u0301 👨‍👩‍👧 🇬🇧", 8),
])
def test_length_is_mastodons(text, length):
    assert MastodonPlatform.length(text) == length


@pytest.mark.parametrize("extra, problem", [
    ("", "missing required key 'api_url' for platform 'mastodon'"),
    ("    api_url: https://mastodon.social/api/v1\n",
     "accounts[0].api_url: 'https://mastodon.social/api/v1' is not an instance's address: write "
     "its root, like https://mastodon.social, without /api"),
    ("    api_url: https://mastodon.social\n    max_characters: lots\n",
     "accounts[0].max_characters: 'lots' is not a number of characters; write the instance's "
     "limit, like \"500\""),
])
def test_account_keys_are_checked_when_the_config_loads(tmp_path, extra, problem):
    config = write_project(tmp_path, "accounts:\n  - name: m\n    platform: mastodon\n" + extra
                           + "    credentials: {access_token: '${T}'}\n")
    outcome = run(["check", "--config", str(config)])
    assert outcome.exit_code == 2
    [line] = outcome.error_lines
    assert line.endswith(problem), line
