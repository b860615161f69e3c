"""Every post exactly once, reported as it is: what a flaky network, a real platform and a
careless user do, over real HTTP against the fakes with the real tweepy and facebook-sdk.

Most tests let the fakes accept duplicates, so only metpost can prevent a double post."""

from __future__ import annotations

import json
import sqlite3
import threading
import time

import pytest

from metpost.platforms.api import Destination, PostRequest, RemoteLink, RemotePost
from metpost.platforms.facebook import FacebookPlatform
from metpost.platforms.x import XPlatform
from tests.fake_platforms.server import Fault, Reply
from tests.test_delivery import assert_exactly_one_post_each_and_ledger_agrees, statuses

MESSAGE = ["--message", "{{ borough }}: roads reopen at 6pm.", "--yes", "--json"]
ALL = ["send", "--all", *MESSAGE]


def posts_of(outcome) -> dict[str, dict]:
    return {p["account"]: p for p in json.loads(outcome.stdout)["posts"]}


def ledger_rows(fleet) -> list[tuple]:
    return fleet.ledger_rows("SELECT broadcast_id, account, state, remote_id FROM posts")


def share_one_x_app(fleet) -> dict[str, str]:
    """Make both X accounts use Hackney's app (consumer key), as one force's accounts do;
    return the environment that says so."""
    key = fleet.env["HACKNEY_X_CONSUMER_KEY"]
    fleet.x.add_user("1002", "MPSCamden", key, fleet.x_token("camden"))
    return {"CAMDEN_X_CONSUMER_KEY": key,
            "CAMDEN_X_CONSUMER_SECRET": fleet.env["HACKNEY_X_CONSUMER_SECRET"]}


def accept_duplicates(fleet) -> None:
    fleet.x.refuse_duplicates = False
    fleet.graph.refuse_duplicates = False


# -- a match must be *this* post ----------------------------------------------------------------

def test_two_appeals_differing_only_in_their_link_are_two_posts(fleet, tmp_path):
    accept_duplicates(fleet)
    appeal = ["send", "--account", "hackney-x", "--yes", "--json", "-m"]
    # The first appeal went out from another machine, with a ledger of its own.
    first = fleet.run([*appeal, "Have you seen this man? met.police.uk/appeal/1001",
                       "--ledger", str(tmp_path / "laptop.sqlite3")])
    assert statuses(first) == {"hackney-x": "sent"}
    fleet.x.refuse_next(1)  # the second appeal's request is lost before X stores it
    second = fleet.run([*appeal, "Have you seen this man? met.police.uk/appeal/1002"])
    assert statuses(second) == {"hackney-x": "sent"}, second.stdout
    first_id = posts_of(first)["hackney-x"]["remote_id"]
    second_id = posts_of(second)["hackney-x"]["remote_id"]
    assert first_id != second_id
    assert sorted(p.text for p in fleet.x.live_posts("MPSHackney")) == [
        "Have you seen this man? met.police.uk/appeal/1001",
        "Have you seen this man? met.police.uk/appeal/1002"]
    # Retracting the second appeal leaves the first one alone.
    assert fleet.run(["retract", "last", "--yes"]).exit_code == 0, "nothing to retract"
    assert [p.id for p in fleet.x.live_posts("MPSHackney")] == [first_id]


def test_an_identical_post_of_another_broadcast_is_never_adopted(fleet):
    accept_duplicates(fleet)
    assert fleet.run(ALL).exit_code == 0
    fleet.x.refuse_next(2)
    fleet.graph.refuse_next(2)
    again = fleet.run([*ALL, "--again"])
    assert set(statuses(again).values()) == {"sent"}, again.stdout
    assert len(fleet.x.live_posts()) == 4 and len(fleet.graph.live_posts()) == 4
    remote_ids = [row[3] for row in ledger_rows(fleet)]
    assert len(remote_ids) == len(set(remote_ids)) == 8
    on_platforms = {p.id for p in fleet.x.live_posts()} | {p.id for p in fleet.graph.live_posts()}
    assert set(remote_ids) == on_platforms


X = XPlatform(Destination(account="hackney-x", handle="@MPSHackney"))
TCO = "https://t.co/AbCdEf1234"


@pytest.mark.parametrize("ours, listed, links, same", [
    ("Roads: met.police.uk/roads", f"Roads: {TCO}", [(TCO, "http://met.police.uk/roads")], True),
    ("Roads: met.police.uk/roads", f"Roads: {TCO}", [(TCO, "http://met.police.uk/other")],
     False),
    ("See https://www.met.police.uk/Area/", f"See {TCO}",
     [(TCO, "https://www.met.police.uk/Area")], True),
    ("See https://www.met.police.uk/area", f"See {TCO}",
     [(TCO, "https://www.met.police.uk/AREA")], False),  # a path's case matters
    ("A & B <c>", "A &amp; B &lt;c&gt;", [], True),
    ("Cafe\u0301 closed", "Caf\u00e9 closed", [], True),  # X keeps text NFC-normalised
    ("Roads reopen", "Roads reopen!", [], False),
    ("Two: a.co.uk/x b.co.uk/y", f"Two: {TCO} https://t.co/ZZZZZZZZZZ",
     [("https://t.co/ZZZZZZZZZZ", "http://a.co.uk/x"), (TCO, "http://b.co.uk/y")], False),
])
def test_x_compares_links_by_where_they_lead(ours, listed, links, same):
    remote = RemotePost(remote_id="1", text=listed,
                        links=tuple(RemoteLink(url=url, target=target) for url, target in links))
    assert X.same_post(PostRequest(text=ours, idempotency_key="k"), remote) is same


def test_facebook_compares_normalised_text():
    page = FacebookPlatform(Destination(account="hackney-facebook", settings={"page_id": "1"}))
    request = PostRequest(text="Cafe\u0301  closed\n", idempotency_key="k")
    assert page.same_post(request, RemotePost(remote_id="1_2", text="Caf\u00e9 closed"))
    assert not page.same_post(request, RemotePost(remote_id="1_2", text="Café closed."))


# -- an error after the post was made ------------------------------------------------------------

@pytest.mark.parametrize("platform", ["x", "facebook"])
def test_a_server_error_after_the_post_was_made_is_not_a_double_post(fleet, platform):
    accept_duplicates(fleet)
    fake = fleet.x if platform == "x" else fleet.graph
    fake.post_then_fail_next(1, status=500)
    outcome = fleet.run(ALL)
    assert outcome.exit_code == 0, outcome.stdout
    assert set(statuses(outcome).values()) == {"sent"}
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


@pytest.mark.parametrize("code", [1, 2])
def test_a_graph_error_code_after_the_post_was_made_is_not_a_double_post(fleet, code):
    accept_duplicates(fleet)
    fleet.graph.post_then_fail_next(1, status=500, code=code)
    outcome = fleet.run([*ALL, "--platform", "facebook"])
    assert outcome.exit_code == 0, outcome.stdout
    assert [len(fleet.graph.live_posts(page)) for page in ("1001", "1002")] == [1, 1]


def x_invalid_after_storing(_request) -> Reply:
    return Reply(400, {"title": "Invalid Request", "detail": "One or more parameters to your "
                       "request was invalid.", "type": "about:blank", "status": 400},
                 content_type="application/problem+json")


def test_a_duplicate_refusal_is_evidence_and_the_post_is_found(fleet):
    # X stores the post but answers as if it had refused it: metpost records a failure.
    fleet.x.queue_fault(1, Fault("store-then-refuse", answer=x_invalid_after_storing,
                                 process=True))
    first = fleet.run(["send", "--account", "hackney-x", "-m", "Roads reopen", "--yes", "--json"])
    assert statuses(first) == {"hackney-x": "failed"}
    # The retry is refused as a duplicate: the post is there, so it is looked for and found.
    retried = fleet.run(["retry", "last", "--yes", "--json"])
    assert retried.exit_code == 0, retried.stdout
    [post] = json.loads(retried.stdout)["posts"]
    [live] = fleet.x.live_posts("MPSHackney")
    assert (post["status"], post["remote_id"]) == ("sent", live.id)


@pytest.mark.parametrize("platform", ["x", "facebook"])
def test_a_duplicate_of_an_older_post_is_named_not_adopted(fleet, platform, tmp_path):
    fake = fleet.x if platform == "x" else fleet.graph
    account = f"hackney-{platform}"
    send = ["send", "--account", account, "-m", "Roads reopen at 6pm.", "--yes", "--json"]
    # An hour ago someone posted the same words from another machine.
    assert fleet.run([*send, "--ledger", str(tmp_path / "laptop.sqlite3")]).exit_code == 0
    [earlier] = fake.live_posts()
    earlier.created_at -= 3600
    outcome = fleet.run(send)
    [post] = json.loads(outcome.stdout)["posts"]
    assert post["status"] == "failed"
    assert post["remote_id"] is None
    assert post["error"].endswith(f"the same text is already live there as {post_url(earlier)}")


def post_url(post) -> str:
    if hasattr(post, "message"):
        page, _, number = post.id.partition("_")
        return f"https://www.facebook.com/{page}/posts/{number}"
    return f"https://x.com/MPSHackney/status/{post.id}"


DUPLICATE_REFUSING_PLATFORM = '''
from metpost.platforms.api import Capabilities, Platform, PublishError, TextLimits


class EchoPlatform(Platform):
    """A platform whose posts are always refused as duplicates, and whose listing is empty."""

    name = "echo"
    title = "Echo"
    limits = TextLimits(max_length=500)
    capabilities = Capabilities(can_list_recent=True)

    def publish(self, request):
        raise PublishError("Echo says: this status is a duplicate", duplicate=True)

    def recent_posts(self, since, limit=100):
        return []
'''


def test_a_duplicate_refusal_that_cannot_be_confirmed_is_unknown_not_failed(
        install_plugin, project, cli_run, tmp_path):
    install_plugin("echo", "metpost_echo", "EchoPlatform", DUPLICATE_REFUSING_PLATFORM)
    config = project("accounts:\n  - {name: echo-1, platform: echo}\n")
    outcome = cli_run(["send", "--config", str(config), "--ledger", str(tmp_path / "l.sqlite3"),
                       "--all", "-m", "hello", "--yes", "--json"])
    assert outcome.exit_code == 1
    [post] = json.loads(outcome.stdout)["posts"]
    assert post["status"] == "unknown"
    assert post["error"] == ("Echo says: this status is a duplicate; no post with this text was "
                             "found on the account to confirm it; look at the account")


# -- claims hold while their run lives ------------------------------------------------------------

def test_a_slow_run_keeps_its_claims_from_an_overlapping_run(fleet):
    from metpost.broadcast import prepare
    from metpost.config import load_config
    from metpost.delivery import DeliveryPolicy
    from metpost.ledger import open_ledger
    from metpost.render import inline_template
    from metpost.runner import RunControl, send
    from metpost.selection import Selection

    accept_duplicates(fleet)
    fleet.x.latency = fleet.graph.latency = 1.0
    broadcast = prepare(load_config(fleet.config), Selection(all=True),
                        inline_template("{{ borough }}: slow"), {}, fleet.env)
    # One post at a time per platform, each 1 s: the run outlives its 0.6 s lease.
    control = RunControl(policy=DeliveryPolicy(concurrency=1, lease=0.6))
    path = fleet.ledger
    results: dict[str, list] = {}

    def run(name: str) -> None:
        results[name] = list(send(broadcast, open_ledger(path), fleet.env,
                                  control=control).results)

    first = threading.Thread(target=run, args=("first",))
    first.start()
    time.sleep(0.8)  # past the first run's original lease, with its first posts in flight
    run("second")
    first.join()
    assert {str(r.status) for r in results["second"]} <= {"in progress elsewhere",
                                                          "already sent"}
    assert {str(r.status) for r in results["first"]} == {"sent"}
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


@pytest.mark.parametrize("option, value", [
    ("--deadline", "nan"), ("--deadline", "inf"), ("--deadline", "-5"),
    ("--read-timeout", "nan"), ("--connect-timeout", "-inf"), ("--read-timeout", "0"),
])
def test_numbers_of_seconds_must_be_finite_and_positive(fleet, option, value):
    outcome = fleet.run([*ALL, option, value])
    assert outcome.exit_code == 2
    minimum = "1" if option == "--deadline" else "0.1"
    assert outcome.error_lines[-1] == (
        f"Error: Invalid value for '{option}': '{value}' is not a number of seconds of at "
        f"least {minimum}")
    assert fleet.x.request_count == fleet.graph.request_count == 0


# -- retracted posts, keyed reruns -------------------------------------------------------------

def test_a_rerun_after_retract_says_retracted_and_again_posts_anew(fleet):
    assert fleet.run(ALL).exit_code == 0
    assert fleet.run(["retract", "last", "--yes"]).exit_code == 0
    rerun = fleet.run(ALL)
    assert rerun.exit_code == 1
    assert set(statuses(rerun).values()) == {"retracted"}
    assert {p["error"] for p in posts_of(rerun).values()} == {
        "retracted earlier; send again with --again to post it anew"}
    assert fleet.x.live_posts() == [] and fleet.graph.live_posts() == []
    plain = fleet.run(ALL[:-1])
    assert plain.stdout.splitlines()[-1] == (
        "Retracted earlier (hackney-x, hackney-facebook, camden-x, camden-facebook): they stay "
        "retracted; send with --again to post them anew.")
    anew = fleet.run([*ALL, "--again"])
    assert anew.exit_code == 0 and set(statuses(anew).values()) == {"sent"}
    for fake, names in ((fleet.x, ("MPSHackney", "MPSCamden")), (fleet.graph, ("1001", "1002"))):
        assert [len(fake.live_posts(name)) for name in names] == [1, 1]


def test_a_keyed_rerun_with_new_text_finishes_with_the_recorded_text(fleet):
    fleet.x.revoke(fleet.x_token("camden"))
    first = fleet.run(["send", "--all", "-m", "{{ borough }}: patrols at 03:00",
                       "--key", "night-0300", "--yes", "--json"])
    assert statuses(first)["camden-x"] == "failed"
    fleet.x.revoked.clear()
    second = fleet.run(["send", "--all", "-m", "{{ borough }}: patrols at 03:05",
                        "--key", "night-0300", "--yes", "--json"])
    assert second.exit_code == 0, second.stdout
    posts = posts_of(second)
    assert posts["camden-x"]["status"] == "sent"
    # What is reported is what the platform holds: the recorded text.
    assert posts["camden-x"]["text"] == "Camden: patrols at 03:00"
    assert fleet.x_texts("MPSCamden") == ["Camden: patrols at 03:00"]
    progress, note = second.error_lines
    assert progress.endswith("has 3 of 4 posts out already; posting the other 1")
    assert "was recorded with other text for 4 accounts" in note
    assert note.endswith("To send the new text, use a new --key or --again.")
    assert json.loads(second.stdout)["notes"] == [note]


# -- a surprise costs one post, not the report --------------------------------------------------

def test_an_unexpected_client_error_is_caught_per_post(fleet):
    accept_duplicates(fleet)
    # X stores the post and answers with a body tweepy reads but metpost cannot use.
    fleet.x.queue_fault(1, Fault("odd-body", answer=lambda _r: Reply(201, {"data": "odd"}),
                                 process=True))
    outcome = fleet.run(ALL)
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    assert set(statuses(outcome).values()) == {"sent"}
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


EXPLODING_PLATFORM = '''
from metpost.platforms.api import Platform, Receipt, TextLimits


class BoomPlatform(Platform):
    """Raises something that is not a PublishError for one account."""

    name = "boom"
    title = "Boom"
    limits = TextLimits(max_length=500)

    def publish(self, request):
        if self.destination.account == "boom-2":
            raise RuntimeError("kaboom")
        return Receipt(remote_id=self.destination.account)
'''


def test_a_plugin_that_raises_leaves_every_post_reported(install_plugin, project, cli_run,
                                                         tmp_path):
    install_plugin("boom", "metpost_boom", "BoomPlatform", EXPLODING_PLATFORM)
    config = project("accounts:\n" + "".join(
        f"  - {{name: boom-{n}, platform: boom}}\n" for n in (1, 2, 3)))
    ledger = tmp_path / "l.sqlite3"
    outcome = cli_run(["send", "--config", str(config), "--ledger", str(ledger), "--all",
                       "-m", "hi", "--yes", "--json"])
    assert outcome.exit_code == 1
    posts = posts_of(outcome)
    assert {name: p["status"] for name, p in posts.items()} == {
        "boom-1": "sent", "boom-2": "unknown", "boom-3": "sent"}
    assert posts["boom-2"]["error"] == (
        "unexpected error from the client: RuntimeError: kaboom; may have been posted, and "
        "Boom cannot list posts to check")
    states = sqlite3.connect(ledger).execute("SELECT account, state FROM posts").fetchall()
    assert dict(states) == {"boom-1": "sent", "boom-2": "unknown", "boom-3": "sent"}


def test_a_log_file_that_cannot_be_written_stops_before_the_first_post(fleet, tmp_path):
    missing = tmp_path / "no-such-folder" / "attempts.jsonl"
    outcome = fleet.run([*ALL, "--log-file", str(missing)])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [
        f"metpost: error: --log-file {missing}: cannot append to it: No such file or "
        "directory; create its folder or choose another path"]
    assert fleet.x.request_count == fleet.graph.request_count == 0
    assert ledger_rows(fleet) == []


# -- what platforms really say -------------------------------------------------------------------

def test_graph_throttling_is_timed_by_its_usage_header_and_holds_the_page(fleet):
    fleet.graph.rate_limit_next(1, reset_in=600, code=80001)  # ten minutes, by the header
    started = time.monotonic()
    outcome = fleet.run(["send", "--account", "hackney-facebook", *MESSAGE, "--deadline", "30"])
    assert time.monotonic() - started < 10  # no waiting on a reset beyond the deadline
    [post] = json.loads(outcome.stdout)["posts"]
    assert post["status"] == "failed"
    assert post["error"].startswith("rate limited until ")
    assert post["error"].endswith("(Facebook, hackney-facebook)")
    assert [r.method for r in fleet.graph.requests].count("POST") == 1


@pytest.mark.parametrize("scope, words", [
    ("user", "X's 24-hour post limit for this account is used up, until "),
    ("app", "X's 24-hour post limit for this app is used up, until "),
])
def test_x_daily_caps_fail_at_once_with_the_reset_time(fleet, scope, words):
    one_app = share_one_x_app(fleet)
    fleet.x.cap_next(1, scope=scope, reset_in=40)
    started = time.monotonic()
    outcome = fleet.run([*ALL, "--platform", "x", "--concurrency", "1"], env=one_app)
    assert time.monotonic() - started < 10
    posts = posts_of(outcome)
    failed = [p for p in posts.values() if p["status"] == "failed"]
    assert failed[0]["error"].startswith(words) and failed[0]["attempts"] == 1
    if scope == "app":  # the other account shares the app: it is held, not sent to X
        assert [p["status"] for p in posts.values()] == ["failed", "failed"]
        assert [r.method for r in fleet.x.requests].count("POST") == 1
    else:
        assert sorted(p["status"] for p in posts.values()) == ["failed", "sent"]


@pytest.mark.parametrize("fault, words", [
    ("usage_capped_next", "X's usage cap for this app is reached: "),
    ("credits_depleted_next", "X refused the post: the app's pay-per-use credits are used up: "),
])
def test_x_usage_cap_and_spent_credits_fail_every_x_post_without_hammering(fleet, fault, words):
    one_app = share_one_x_app(fleet)
    getattr(fleet.x, fault)(1)
    outcome = fleet.run([*ALL, "--platform", "x", "--concurrency", "1"], env=one_app)
    assert outcome.exit_code == 1
    errors = [p["error"] for p in posts_of(outcome).values()]
    assert all(error.startswith(words) for error in errors), errors
    assert [r.method for r in fleet.x.requests].count("POST") == 1


def test_retract_counts_a_post_gone_only_when_it_is(fleet):
    assert fleet.run(ALL).exit_code == 0
    fleet.x.delete_answers_false_next(1)  # X says "not deleted": checked, and tried again
    fleet.graph.forbid_delete_next(1)  # Graph's "does not exist" that means "no permission"
    outcome = fleet.run(["retract", "last", "--yes", "--json"])
    assert outcome.exit_code == 1
    posts = posts_of(outcome)
    assert sorted(p["status"] for p in posts.values()) == ["failed"] + ["retracted"] * 3
    [refused] = [name for name, p in posts.items() if p["status"] == "failed"]
    assert refused.endswith("-facebook")
    assert posts[refused]["error"].startswith(
        "not deleted: Facebook did not delete the post, which is still on the page: the page "
        "token may lack the pages_manage_posts permission")
    assert fleet.x.live_posts() == [] and len(fleet.graph.live_posts()) == 1
    assert [r.method for r in fleet.x.requests].count("DELETE") == 3
    states = {row[1]: row[2] for row in ledger_rows(fleet)}
    assert states[refused] == "sent"
    finished = fleet.run(["retract", "last", "--yes", "--json"])
    assert finished.exit_code == 0
    assert fleet.graph.live_posts() == []


def test_x_reconciling_spends_no_users_me_call(fleet):
    fleet.x.drop_after_accept_next(2)
    assert fleet.run(ALL).exit_code == 0
    assert fleet.x.me_calls == 0
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


def test_requests_in_flight_never_exceed_the_concurrency(fleet):
    fleet.x.latency = fleet.graph.latency = 0.3
    assert fleet.run([*ALL, "--concurrency", "1"]).exit_code == 0
    assert fleet.x.max_in_flight == fleet.graph.max_in_flight == 1
    fleet.x.latency = fleet.graph.latency = 0.3
    assert fleet.run([*ALL, "--again"]).exit_code == 1  # duplicates, refused: no matter
    assert fleet.x.max_in_flight == 2  # with the default, both accounts went at once


# -- hostile input: secrets echoed back, bytes that are not text --------------------------------

TOKEN = 'EAAB/tok+en= &<x>"9'
FORMS = {  # every way the platform below echoes the page token back
    "as is": TOKEN,
    "percent-encoded": "EAAB%2Ftok%2Ben%3D%20%26%3Cx%3E%229",
    "percent-encoded, lower case": "EAAB%2ftok%2ben%3d%20%26%3cx%3e%229",
    "form-encoded": "EAAB%2Ftok%2Ben%3D+%26%3Cx%3E%229",
    "HTML-escaped": "EAAB/tok+en= &amp;&lt;x&gt;&quot;9",
}


@pytest.mark.parametrize("form", list(FORMS))
def test_a_secret_echoed_in_any_form_is_redacted_everywhere(fleet, tmp_path, form):
    fleet.graph.add_page("1001", "Hackney", TOKEN)
    echoed = FORMS[form]
    fleet.graph.queue_fault(1, Fault("echo", answer=lambda _r: Reply(400, {"error": {
        "message": f"Invalid OAuth access token: {echoed}", "type": "OAuthException",
        "code": 190, "fbtrace_id": "A1"}})))
    log = tmp_path / "attempts.jsonl"
    # The variable holds the token with a newline, as `export X=$(cat file)` can leave it.
    outcome = fleet.run(["send", "--account", "hackney-facebook", *MESSAGE, "--log-file",
                         str(log)], env={"HACKNEY_FB_TOKEN": f"  {TOKEN}\n"})
    [post] = json.loads(outcome.stdout)["posts"]
    assert post["error"] == ("Facebook refused the page token: Invalid OAuth access token: "
                             "[redacted] (code 190)")
    everything = outcome.stdout + outcome.stderr + log.read_text()
    everything += fleet.ledger_text()
    for shown in FORMS.values():
        assert shown not in everything
    assert "tok+en" not in everything and "tok%2" not in everything.lower()


# A token with a backslash and both quotes: Python's repr of an error body (Mastodon.py's
# errors, atproto's) doubles the backslash and escapes a quote; JSON inside it escapes again;
# JSON written without ensure_ascii keeps the é as it is.
AWKWARD_TOKEN = "EAAB\\tok\"en'é9-secret"
PYTHON_FORMS = {
    "repr of a dict": repr({"message": f"bad token {AWKWARD_TOKEN}"}),
    "repr of JSON": repr({"message": json.dumps({"password": AWKWARD_TOKEN})}),
    "JSON, not ASCII-escaped": json.dumps({"t": AWKWARD_TOKEN}, ensure_ascii=False),
}


@pytest.mark.parametrize("form", list(PYTHON_FORMS))
def test_a_secret_echoed_as_python_or_json_writes_it_is_redacted_everywhere(fleet, tmp_path,
                                                                            form):
    fleet.graph.add_page("1001", "Hackney", AWKWARD_TOKEN)
    echoed = PYTHON_FORMS[form]
    fleet.graph.queue_fault(1, Fault("echo", answer=lambda _r: Reply(400, {"error": {
        "message": f"Invalid OAuth access token: {echoed}", "type": "OAuthException",
        "code": 190, "fbtrace_id": "A1"}})))
    log = tmp_path / "attempts.jsonl"
    outcome = fleet.run(["send", "--account", "hackney-facebook", *MESSAGE, "--log-file",
                         str(log)], env={"HACKNEY_FB_TOKEN": AWKWARD_TOKEN})
    [post] = json.loads(outcome.stdout)["posts"]
    assert "[redacted]" in post["error"]
    everything = outcome.stdout + outcome.stderr + log.read_text() + fleet.ledger_text()
    assert "9-secret" not in everything and "EAAB" not in everything


def test_a_secret_echoed_while_looking_for_a_post_is_kept_out_of_the_ledger(fleet):
    # The post may have been made (a 500 after it was stored); the look for it is refused in
    # words that quote the token. What the ledger keeps is shown later by `metpost show`,
    # which has no secrets in its environment to know what to hide: it must be stored redacted.
    fleet.graph.add_page("1001", "Hackney", TOKEN)
    fleet.graph.post_then_fail_next(1)
    fleet.graph.queue_fault(10, Fault("echo", methods=frozenset({"GET"}), answer=lambda _r: Reply(
        400, {"error": {"message": f"Malformed access token {TOKEN}", "type": "OAuthException",
                        "code": 190}})))
    outcome = fleet.run(["send", "--account", "hackney-facebook", *MESSAGE, "--deadline", "2"],
                        env={"HACKNEY_FB_TOKEN": TOKEN})
    [post] = json.loads(outcome.stdout)["posts"]
    assert post["status"] == "unknown" and "could not check" in post["error"]
    assert TOKEN not in fleet.ledger_text()
    shown = fleet.run(["show", "last", "--json"], env={"HACKNEY_FB_TOKEN": ""})
    assert "could not check" in shown.stdout and TOKEN not in shown.stdout


def test_a_message_that_is_not_utf8_is_one_line_and_sends_nothing(fleet):
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "metpost", "send", "--config", str(fleet.config),
               "--ledger", fleet.ledger, "--all", "--yes", "--message",
               os.fsdecode(b"Roads \xff\xfe closed")]
    finished = subprocess.run(command, env={**os.environ, **fleet.env}, capture_output=True,
                              text=True, timeout=30)
    assert finished.returncode == 2
    assert finished.stderr.splitlines() == [
        "metpost: error: --message is not valid UTF-8 text; check the terminal's or script's "
        "encoding"]
    assert fleet.x.request_count == fleet.graph.request_count == 0


# -- waits go through the clock -------------------------------------------------------------------

class RecordingClock:
    """A clock that never sleeps: each wait moves it forward and is remembered."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.waits: list[float] = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return stop.is_set()


def deliver_with(fleet, clock, **policy):
    from metpost.broadcast import prepare
    from metpost.config import load_config
    from metpost.delivery import DeliveryPolicy
    from metpost.ledger import open_ledger
    from metpost.render import inline_template
    from metpost.runner import RunControl, send
    from metpost.selection import Selection

    broadcast = prepare(load_config(fleet.config), Selection(accounts=("hackney-facebook",)),
                        inline_template("{{ borough }}: roads reopen"), {}, fleet.env)
    control = RunControl(policy=DeliveryPolicy(**policy), clock=clock)
    return send(broadcast, open_ledger(fleet.ledger), fleet.env,
                control=control).results


def test_retries_back_off_exponentially_on_the_clock(fleet):
    fleet.graph.rate_limit_next(4, code=17)  # a limit with no time given: back off
    clock = RecordingClock()
    [result] = deliver_with(fleet, clock, backoff_base=0.5, backoff_cap=8.0)
    assert str(result.status) == "sent" and result.attempts == 5
    assert len(clock.waits) == 4
    for attempt, wait in enumerate(clock.waits, start=1):
        ceiling = min(8.0, 0.5 * 2 ** (attempt - 1))
        assert ceiling / 2 <= wait <= ceiling, (attempt, wait)


def test_the_deadline_is_kept_on_the_clock(fleet):
    fleet.graph.rate_limit_next(50, code=17)
    clock = RecordingClock()
    started = time.monotonic()
    [result] = deliver_with(fleet, clock, deadline=20.0, backoff_base=4.0, backoff_cap=8.0)
    assert time.monotonic() - started < 5  # no real sleeping
    assert str(result.status) == "failed"
    assert result.error.endswith("(gave up after the 20s deadline)")
    assert sum(clock.waits) < 20.0


LEAKY_PLATFORM = '''
import os

from metpost.platforms.api import Platform, Receipt, TextLimits


class LeakyPlatform(Platform):
    """A client library that puts its token in an exception, as some do."""

    name = "leaky"
    title = "Leaky"
    credential_keys = ("token",)
    limits = TextLimits(max_length=500)

    @classmethod
    def check(cls, text, settings=None):
        raise RuntimeError("cannot weigh with token " + os.environ["LEAKY_TOKEN"])

    def publish(self, request):
        return Receipt(remote_id="1")
'''


def test_even_an_internal_error_line_never_shows_a_secret(install_plugin, project, cli_run):
    install_plugin("leaky", "metpost_leaky", "LeakyPlatform", LEAKY_PLATFORM)
    config = project("accounts:\n  - name: leaky-1\n    platform: leaky\n"
                     "    credentials: {token: '${LEAKY_TOKEN}'}\n")
    secret = "leaky-s3cr3t-token-value"
    outcome = cli_run(["send", "--config", str(config), "--all", "-m", "hi", "--dry-run"],
                      env={"LEAKY_TOKEN": secret})
    assert outcome.exit_code == 3
    assert outcome.error_lines == [
        "metpost: error: internal error: RuntimeError: cannot weigh with token [redacted] (set "
        "METPOST_DEBUG=1 for details, and please report it)"]
    assert secret not in outcome.stdout + outcome.stderr
    # --json always answers in JSON, a bug included.
    answered = cli_run(["send", "--config", str(config), "--all", "-m", "hi", "--dry-run",
                        "--json"], env={"LEAKY_TOKEN": secret})
    assert answered.exit_code == 3
    document = json.loads(answered.stdout)
    assert document["exit_code"] == 3 and document["problems"] == [
        "internal error: RuntimeError: cannot weigh with token [redacted] (set METPOST_DEBUG=1 "
        "for details, and please report it)"]
    assert secret not in answered.stdout + answered.stderr


ENDLESS_LIMIT_PLATFORM = '''
from metpost.platforms.api import Platform, PublishError, TextLimits


class EndlessLimit(Platform):
    """A platform whose limit names no end: retry-safe, but not within any run."""

    name = "endless"
    title = "Endless"
    credential_keys = ()
    limits = TextLimits(max_length=500)

    def publish(self, request):
        raise PublishError("the daily quota is used up", retry_safe=True,
                           retry_at=float("inf"), problem="rate-limit")
'''


def test_a_limit_with_no_end_fails_the_post_with_its_reason(install_plugin, project, cli_run,
                                                            tmp_path):
    install_plugin("endless", "metpost_endless", "EndlessLimit", ENDLESS_LIMIT_PLATFORM)
    config = project("accounts:\n  - name: endless-1\n    platform: endless\n")
    outcome = cli_run(["send", "--config", str(config), "--all", "-m", "hi", "--yes", "--json",
                       "--ledger", str(tmp_path / "ledger.sqlite3")])
    assert outcome.exit_code == 1, outcome.stderr
    [post] = json.loads(outcome.stdout)["posts"]
    assert (post["status"], post["error"]) == ("failed", "the daily quota is used up")


def test_a_look_that_times_out_is_said_once_as_a_look_not_as_a_post(fleet):
    # The post may exist (a 503 after X stored it); the look for it gets no answer in time.
    # That look changed nothing: it is no second "the post may have gone out".
    fleet.x.post_then_fail_next(1, status=503)
    fleet.x.queue_fault(5, Fault("stall", process=True, delay=3, methods=frozenset({"GET"})))
    outcome = fleet.run(["send", "--account", "hackney-x", *MESSAGE, "--read-timeout", "1",
                         "--deadline", "3"])
    [post] = json.loads(outcome.stdout)["posts"]
    assert post["status"] == "unknown", post
    assert post["error"].endswith("may have been posted; could not check: X did not answer in "
                                  "time"), post["error"]
    assert post["error"].count("may have gone out") <= 1
