"""Taking a broadcast back, and finishing one, only where it was meant to go: over real HTTP
against the fakes.

- ``retract`` takes every post of a broadcast back for good: those out are deleted; those not
  sent (failed, pending) are withdrawn, so that no retry, rerun or apply sends them; those whose
  outcome is unknown are looked for first (found: deleted; not found: withdrawn; cannot tell:
  unknown, exit 1, and never sent either).
- ``retry`` and ``retract`` refuse, before any request, an account that posts elsewhere now
  than when the broadcast was recorded (another platform, page, ...) or that is not live.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from tests.fake_platforms.server import Fault
from tests.test_delivery import statuses
from tests.test_narrow_terminal import on_terminal

MESSAGE = ["--message", "{{ borough }}: roads reopen at 6pm.", "--yes", "--json"]
ALL = ["send", "--all", *MESSAGE]
WITHDRAWN = "withdrawn before it was sent: it is never sent from this broadcast"
WITHDRAWN_HINT = ("withdrawn before it was sent (metpost retract); send again with --again to "
                  "post it anew")


def posts_of(outcome) -> dict[str, dict]:
    return {p["account"]: p for p in json.loads(outcome.stdout)["posts"]}


def broadcast_of(outcome) -> str:
    return json.loads(outcome.stdout)["broadcast"]


def writes(fake) -> int:
    """How many posts (POSTs) a fake was asked to make."""
    return [r.method for r in fake.requests].count("POST")


def page_listing_fails(fleet, page_id: str, times: int = 1) -> None:
    """The next ``times`` listings of the page's posts answer a Graph server error."""
    fleet.graph.queue_fault(times, Fault(
        "listing fails", answer=lambda _request: fleet.graph.error_reply(503),
        methods=frozenset({"GET"}), paths=frozenset({f"/v24.0/{page_id}/posts"})))


def history_lines(fleet) -> list[str]:
    outcome = fleet.run(["history"])
    assert outcome.exit_code == 0
    return outcome.stdout.splitlines()


# -- retract takes the whole broadcast back ---------------------------------------------------

def test_a_failed_post_is_withdrawn_and_no_retry_or_rerun_sends_it(fleet):
    fleet.x.revoke(fleet.x_token("camden"))
    sent = fleet.run(ALL)
    assert sent.exit_code == 1 and statuses(sent)["camden-x"] == "failed"
    broadcast = broadcast_of(sent)
    retracted = fleet.run(["retract", "last", "--yes", "--json"])
    assert retracted.exit_code == 0, retracted.stdout
    assert set(statuses(retracted).values()) == {"retracted"}
    posts = posts_of(retracted)
    assert posts["camden-x"]["error"] == WITHDRAWN
    assert {name: post["error"] for name, post in posts.items() if name != "camden-x"} == {
        "hackney-x": None, "hackney-facebook": None, "camden-facebook": None}
    assert fleet.ledger_rows("SELECT state, remote_id FROM posts WHERE account = 'camden-x'"
                             ) == [("retracted", None)]

    [_header, row] = history_lines(fleet)  # nothing unfinished, nothing to retry
    assert row.split("\t")[4] == "3 retracted, 1 withdrawn before being sent"
    shown = fleet.run(["show", "last"]).stdout.splitlines()
    assert "4 posts: 3 retracted, 1 withdrawn before being sent" in shown
    assert "camden-x\tretracted\twithdrawn before it was sent" in shown

    fleet.x.revoked.clear()  # the token is renewed: a retry could post now, and must not
    before = writes(fleet.x), writes(fleet.graph)
    retried = fleet.run(["retry", "last", "--yes", "--json"])
    assert retried.exit_code == 1
    assert set(statuses(retried).values()) == {"retracted"}
    assert posts_of(retried)["camden-x"]["error"] == WITHDRAWN_HINT
    assert json.loads(retried.stdout)["next_steps"] == [
        "Retracted earlier (hackney-x, hackney-facebook, camden-x, camden-facebook): they stay "
        "retracted; send with --again to post them anew."]
    rerun = fleet.run(ALL)
    assert rerun.exit_code == 1 and set(statuses(rerun).values()) == {"retracted"}
    assert broadcast_of(rerun) == broadcast
    assert (writes(fleet.x), writes(fleet.graph)) == before
    assert fleet.x.live_posts() == [] and fleet.graph.live_posts() == []
    code, lines = on_terminal(["retry", "last", "--config", str(fleet.config), "--ledger",
                               fleet.ledger], env=fleet.env)
    assert code == 0
    assert " ".join(lines).split() == (
        f"Nothing to retry: every post of broadcast {broadcast} is on its platform (or was "
        "retracted or withdrawn).").split()


def test_an_applied_plan_once_retracted_is_not_applied_again(fleet):
    from tests.test_apply import apply, plan

    fleet.x.revoke(fleet.x_token("camden"))
    path, _ = plan(fleet)
    applied = apply(fleet, path)
    assert applied.exit_code == 1 and statuses(applied)["camden-x"] == "failed"
    assert json.loads(dict(fleet.ledger_rows("SELECT account, destination FROM posts"))[
        "camden-facebook"]) == {"api_url": fleet.graph.url, "page_id": "1002"}  # as planned
    assert fleet.run(["retract", "last", "--yes"]).exit_code == 0
    fleet.x.revoked.clear()
    before = writes(fleet.x), writes(fleet.graph)
    again = apply(fleet, path)
    assert again.exit_code == 1 and set(statuses(again).values()) == {"retracted"}
    assert (writes(fleet.x), writes(fleet.graph)) == before


def test_a_run_sending_a_post_a_retract_withdraws_sends_no_further_request_for_it(fleet):
    from metpost.ledger import open_ledger

    fleet.x.revoke(fleet.x_token("camden"))
    broadcast = broadcast_of(fleet.run(ALL))
    sending, retracting = open_ledger(fleet.ledger), open_ledger(fleet.ledger)
    try:
        [claim] = sending.claim(broadcast, ["camden-x"], 30)
        assert claim.action == "send"
        [taken] = retracting.withdraw(broadcast, ["camden-x"])
        assert taken.action == "busy" and taken.post.withdrawn_at
        assert sending.begin_attempt(claim.post.id, 30) is None  # the compare-and-set fails
        assert [c.action for c in retracting.claim(broadcast, ["camden-x"], 30)] == [
            "withdrawn"]
    finally:
        sending.close()
        retracting.close()


def test_a_retract_prompt_says_posts_not_sent_are_never_sent(fleet):
    fleet.x.revoke(fleet.x_token("camden"))
    assert fleet.run(ALL).exit_code == 1
    code, lines = on_terminal(["retract", "last", "--config", str(fleet.config), "--ledger",
                               fleet.ledger], env=fleet.env, answer="n")
    assert code == 0
    assert "Delete 3 posts from their platforms, and never send the other 1? [y/N]: n" in lines
    assert len(fleet.x.live_posts()) == 1  # nothing was deleted


@pytest.mark.parametrize("fault", ["post_then_fail_next", "drop_after_accept_next"])
def test_a_delete_whose_answer_is_lost_is_tried_again_and_the_post_recorded_gone(fleet, fault):
    sent = fleet.run(["send", "--account", "hackney-x", "--account", "hackney-facebook", "-m",
                      "{{ borough }}: roads reopen at 6pm.", "--yes"])
    assert sent.exit_code == 0, sent.stderr
    # Each platform deletes the post, then answers a 5xx or nothing at all.
    getattr(fleet.x, fault)(1)
    getattr(fleet.graph, fault)(1)
    outcome = fleet.run(["retract", "last", "--yes", "--json"])
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    assert fleet.x.live_posts("MPSHackney") == [] and fleet.page_texts("1001") == []
    shown = json.loads(fleet.run(["show", "last", "--json"]).stdout)
    assert [(p["account"], p["state"]) for p in shown["posts"]] == [
        ("hackney-x", "retracted"), ("hackney-facebook", "retracted")]
    again = fleet.run(["send", "--account", "hackney-x", "--account", "hackney-facebook", "-m",
                       "{{ borough }}: roads reopen at 6pm.", "--yes", "--json"])
    assert {p["status"] for p in json.loads(again.stdout)["posts"]} == {"retracted"}


def test_unknown_posts_are_looked_for_first_found_deleted_not_found_withdrawn(fleet):
    # Hackney's page post is made but its answer lost; Camden's request is lost before Graph
    # stores it. Neither page can be listed to check, so both are unknown.
    fleet.graph.post_then_fail_next(1)
    fleet.graph.fail_next(1)
    page_listing_fails(fleet, "1001")
    page_listing_fails(fleet, "1002")
    sent = fleet.run([*ALL, "--platform", "facebook", "--concurrency", "1"])
    assert statuses(sent) == {"hackney-facebook": "unknown", "camden-facebook": "unknown"}
    [made] = fleet.graph.live_posts()
    assert made.page_id == "1001" and fleet.graph.live_posts("1002") == []

    retracted = fleet.run(["retract", "last", "--yes", "--json"])
    assert retracted.exit_code == 0, retracted.stdout
    posts = posts_of(retracted)
    assert statuses(retracted) == {"hackney-facebook": "retracted",
                                   "camden-facebook": "retracted"}
    assert posts["hackney-facebook"]["remote_id"] == made.id  # found, then deleted
    assert posts["hackney-facebook"]["error"] is None
    assert posts["camden-facebook"]["error"] == WITHDRAWN  # not found: it never went out
    assert fleet.graph.live_posts() == []
    assert [r.path.rsplit("/", 1)[1] for r in fleet.graph.requests
            if r.method == "DELETE"] == [made.id]
    shown = fleet.run(["show", "last"]).stdout.splitlines()
    page, _, number = made.id.partition("_")
    assert f"hackney-facebook\tretracted\thttps://www.facebook.com/{page}/posts/{number}" in shown
    assert "camden-facebook\tretracted\twithdrawn before it was sent" in shown
    before = writes(fleet.graph)
    assert fleet.run(["retry", "last", "--yes"]).exit_code == 1
    assert writes(fleet.graph) == before


def test_an_unknown_post_that_cannot_be_looked_for_stays_unknown_and_is_never_sent(fleet):
    fleet.graph.fail_next(1)
    page_listing_fails(fleet, "1002")
    sent = fleet.run(["send", "--account", "camden-facebook", *MESSAGE])
    assert statuses(sent) == {"camden-facebook": "unknown"}
    broadcast = broadcast_of(sent)

    page_listing_fails(fleet, "1002")  # still cannot be listed when the retract looks
    retracted = fleet.run(["retract", "last", "--yes", "--json"])
    assert retracted.exit_code == 1
    [post] = json.loads(retracted.stdout)["posts"]
    assert post["status"] == "unknown"
    assert re.fullmatch(
        r"may have been posted; could not check: Facebook server error: .*; it is never sent "
        rf"from this broadcast: metpost retract {broadcast} looks for it again", post["error"])
    assert json.loads(retracted.stdout)["next_steps"] == [
        f"To finish it: metpost retract {broadcast}"]
    assert history_lines(fleet)[2:] == [
        f"Retract unfinished: {broadcast} (1 unknown)",
        f"  to finish it: metpost retract {broadcast}"]
    [record] = json.loads(fleet.run(["history", "--json"]).stdout)["broadcasts"]
    assert (record["unfinished"], record["retract_unfinished"]) == (False, True)

    # Nothing sends it: not a retry, not a rerun of the send (nor, so, a schedule).
    before = writes(fleet.graph)
    retried = fleet.run(["retry", "last", "--yes", "--json"])
    assert retried.exit_code == 1
    [post] = json.loads(retried.stdout)["posts"]
    assert post["status"] == "unknown"
    assert post["error"] == (
        "withdrawn by metpost retract, which has not finished with it (it may be out); it is "
        f"never sent again: metpost retract {broadcast} finishes it")
    assert json.loads(retried.stdout)["next_steps"] == [
        "Withdrawn by a retract not finished yet (camden-facebook): they are never sent; to "
        f"finish it: metpost retract {broadcast}"]
    rerun = fleet.run(["send", "--account", "camden-facebook", *MESSAGE])
    assert rerun.exit_code == 1 and statuses(rerun) == {"camden-facebook": "unknown"}
    assert writes(fleet.graph) == before and fleet.graph.live_posts() == []

    finished = fleet.run(["retract", "last", "--yes", "--json"])  # the page can be listed now
    assert finished.exit_code == 0
    assert posts_of(finished)["camden-facebook"]["error"] == WITHDRAWN
    assert history_lines(fleet)[2:] == []


# -- retry and retract post only where the broadcast was recorded to go ------------------------

CAMDEN_PAGE = "    platform: facebook\n    page_id: '1002'\n"
EDITS = {
    # the tester's three: another page, a paused account, another platform
    "page": (lambda text: text.replace("page_id: '1002'", "page_id: '1009'"),
             "posts elsewhere now than when broadcast {id} was recorded ({where}): page_id was "
             "'1002', now '1009'; put it back as it was to {to}"),
    "paused": (lambda text: text.replace("  - name: camden-facebook\n",
                                         "  - name: camden-facebook\n    status: paused\n"),
               "is paused ({where}); set its status: live to {to}"),
    "platform": (lambda text: text.replace(CAMDEN_PAGE, "    platform: mastodon\n").replace(
                     "{page_access_token: '${CAMDEN_FB_TOKEN}'}",
                     "{access_token: '${CAMDEN_FB_TOKEN}'}"),
                 "posts elsewhere now than when broadcast {id} was recorded ({where}): "
                 "platform was facebook, now mastodon; put it back as it was to {to}"),
}
RETRY_ELSE = ("or send the message to it alone as a new broadcast (metpost send --account "
              "camden-facebook ... --again)")
RETRACT_ELSE = "or leave it out with --account (its post stays where it is)"


def camden_page_at(fleet) -> str:
    """Where camden-facebook is written in the fleet's accounts.yaml: PATH:LINE."""
    line = fleet.config.read_text().splitlines().index("  - name: camden-facebook") + 1
    return f"{fleet.config}:{line}"


def requests_made(fleet) -> tuple[int, int]:
    return fleet.x.request_count, fleet.graph.request_count


def assert_refused_after(fleet, edit: str, sent, command: str, to: str, otherwise: str,
                         outcome: str) -> None:
    """With camden-facebook edited as ``edit`` says, ``metpost COMMAND last`` is refused in
    those words, before any request."""
    where = camden_page_at(fleet)
    change, words = EDITS[edit]
    fleet.config.write_text(change(fleet.config.read_text()))
    before = requests_made(fleet)
    refused = fleet.run([command, "last", "--yes"])
    assert refused.exit_code == 2
    said = words.format(id=broadcast_of(sent), where=where, to=to)
    assert refused.error_lines == [f"metpost: error: account 'camden-facebook' {said}, {otherwise}",
                                   f"metpost: error: nothing was {outcome}"]
    assert requests_made(fleet) == before


@pytest.mark.parametrize("edit", EDITS)
def test_retry_refuses_an_account_that_changed_before_any_request(fleet, edit):
    fleet.graph.revoke(fleet.env["CAMDEN_FB_TOKEN"])
    sent = fleet.run(ALL)
    assert statuses(sent)["camden-facebook"] == "failed"
    fleet.graph.revoked.clear()
    assert_refused_after(fleet, edit, sent, "retry", "finish its post", RETRY_ELSE, "sent")
    assert fleet.graph.live_posts("1002") == [] and fleet.graph.live_posts("1009") == []


@pytest.mark.parametrize("edit", EDITS)
def test_retract_refuses_an_account_that_changed_before_any_request(fleet, edit):
    sent = fleet.run(ALL)
    assert sent.exit_code == 0
    assert_refused_after(fleet, edit, sent, "retract", "delete its post", RETRACT_ELSE,
                         "deleted")
    assert fleet.ledger_rows("SELECT COUNT(*) FROM posts WHERE state = 'sent' AND "
                             "withdrawn_at IS NULL") == [(4,)]
    others = ["--account", "hackney-x", "--account", "hackney-facebook", "--account", "camden-x"]
    assert fleet.run(["retract", "last", *others, "--yes"]).exit_code == 0
    assert [post.page_id for post in fleet.graph.live_posts()] == ["1002"]


def test_a_post_records_where_it_went_without_secrets(fleet):
    assert fleet.run(ALL).exit_code == 0
    recorded = dict(fleet.ledger_rows("SELECT account, destination FROM posts"))
    assert {name: json.loads(value) for name, value in recorded.items()} == {
        "hackney-x": {"api_url": fleet.x.url},
        "hackney-facebook": {"api_url": fleet.graph.url, "page_id": "1001"},
        "camden-x": {"api_url": fleet.x.url},
        "camden-facebook": {"api_url": fleet.graph.url, "page_id": "1002"}}
    assert "s3cr3t" not in fleet.ledger_text()


def test_a_post_recorded_without_its_destination_is_compared_on_its_platform(fleet):
    fleet.graph.revoke(fleet.env["CAMDEN_FB_TOKEN"])
    assert fleet.run(ALL).exit_code == 1
    fleet.graph.revoked.clear()
    fleet.ledger_execute("UPDATE posts SET destination = NULL")  # as an older metpost left it
    text = fleet.config.read_text()
    fleet.config.write_text(EDITS["platform"][0](text))
    refused = fleet.run(["retry", "last", "--yes"])
    assert refused.exit_code == 2
    assert "platform was facebook, now mastodon" in refused.error_lines[0]
    fleet.config.write_text(EDITS["page"][0](text))  # a page it cannot compare: not refused
    fleet.graph.add_page("1009", "Camden (new)", fleet.env["CAMDEN_FB_TOKEN"] + "-new")
    retried = fleet.run(["retry", "last", "--yes", "--json"],
                        env={"CAMDEN_FB_TOKEN": fleet.env["CAMDEN_FB_TOKEN"] + "-new"})
    assert statuses(retried)["camden-facebook"] == "sent"
    assert [post.page_id for post in fleet.graph.live_posts()] == ["1001", "1009"]


@pytest.mark.parametrize("edit", ["page", "platform"])
def test_a_keyed_rerun_finishes_a_post_only_where_it_was_recorded_going(fleet, edit):
    # A rerun with the same --key (as a schedule's slot is) after accounts.yaml changed: the
    # recorded text is not sent to wherever the account points now.
    fleet.graph.revoke(fleet.env["CAMDEN_FB_TOKEN"])
    sent = fleet.run([*ALL, "--key", "roads-1"])
    assert statuses(sent)["camden-facebook"] == "failed"
    fleet.graph.revoked.clear()
    change, _ = EDITS[edit]
    fleet.config.write_text(change(fleet.config.read_text()))
    before = requests_made(fleet)
    rerun = fleet.run([*ALL, "--key", "roads-1"])
    assert rerun.exit_code == 1
    [post] = [p for p in json.loads(rerun.stdout)["posts"] if p["account"] == "camden-facebook"]
    assert post["status"] == "failed"
    assert post["error"].startswith("account 'camden-facebook' posts elsewhere now than when "
                                    "this post was recorded: ")
    assert post["error"].endswith(RETRY_ELSE)
    assert requests_made(fleet) == before  # the others were out already: nothing was sent
    assert fleet.graph.live_posts("1002") == [] and fleet.graph.live_posts("1009") == []


def test_a_keyed_rerun_leaves_a_post_that_may_be_out_elsewhere_unknown(fleet):
    camden = ["send", "--account", "camden-facebook", *MESSAGE, "--key", "roads-2"]
    # Made, then answered 500; and the page cannot be listed to look for it.
    fleet.graph.post_then_fail_next(1, status=500)
    fleet.graph.queue_fault(50, Fault("unlistable", methods=frozenset({"GET"}),
                                      answer=lambda _: fleet.graph.error_reply(503)))
    sent = fleet.run([*camden, "--deadline", "1"])
    assert statuses(sent) == {"camden-facebook": "unknown"}
    fleet.graph.clear_faults()
    fleet.config.write_text(EDITS["page"][0](fleet.config.read_text()))
    before = requests_made(fleet)
    rerun = fleet.run(camden)
    [post] = json.loads(rerun.stdout)["posts"]
    assert post["status"] == "unknown"  # it may be on page 1002, where it was recorded going
    assert post["error"].startswith("account 'camden-facebook' posts elsewhere now than when "
                                    "this post was recorded: page_id was '1002', now '1009'")
    assert requests_made(fleet) == before


def test_a_retract_prompt_counts_only_what_it_will_do(fleet):
    assert fleet.run(["send", "--account", "hackney-x", *MESSAGE]).exit_code == 0
    args = ["retract", "last", "--config", str(fleet.config), "--ledger", fleet.ledger]
    code, lines = on_terminal(args, env=fleet.env, answer="n")
    assert code == 0 and "Delete 1 post from its platform? [y/N]: n" in lines
    assert fleet.run(["retract", "last", "--yes"]).exit_code == 0
    code, lines = on_terminal(args, env=fleet.env, answer="n")
    assert code == 0
    assert any(line.startswith("Nothing to retract: every post of broadcast ") for line in lines)


def test_a_run_whose_post_a_retract_withdrew_says_so_and_sends_it_no_more(fleet):
    fleet.graph.latency = 1.0
    fleet.graph.rate_limit_next(1, code=17)  # the first try is refused: backed off, then again
    command = [sys.executable, "-m", "metpost", "send", "--account", "hackney-facebook",
               *MESSAGE, "--config", str(fleet.config), "--ledger", fleet.ledger]
    sender = subprocess.Popen(command, env={**os.environ, **fleet.env}, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    give_up = time.monotonic() + 15
    while fleet.graph.in_flight < 1:
        assert time.monotonic() < give_up
        time.sleep(0.02)
    assert fleet.run(["retract", "last", "--yes"]).exit_code == 1  # in progress elsewhere
    stdout, _ = sender.communicate(timeout=30)
    [post] = json.loads(stdout)["posts"]
    assert post["status"] == "failed"  # refused by the limit: it was never made
    assert post["error"].startswith("withdrawn by metpost retract while this run was sending "
                                    "it: no further request is made for it")
    assert json.loads(stdout)["next_steps"][-1].endswith("metpost retract "
                                                         f"{json.loads(stdout)['broadcast']}")
    assert fleet.graph.live_posts() == []
    assert len([r for r in fleet.graph.requests if r.method == "POST"]) == 1


def test_a_post_sent_after_retract_looked_is_not_deleted_without_its_credentials(fleet):
    # retract checks the credentials of the posts it will delete; one sent meanwhile (by a
    # retry, while retract waited at its prompt) is come to without them: said in plain words.
    from metpost.config import load_config
    from metpost.ledger import open_ledger
    from metpost.runner import retract_posts, retractable

    fleet.x.revoke(fleet.x_token("camden"))
    assert fleet.run(ALL).exit_code == 1
    fleet.x.revoked.clear()
    without = {name: value for name, value in fleet.env.items() if not name.startswith("CAMDEN_X")}
    ledger = open_ledger(fleet.ledger)
    record, posts, accounts = retractable(load_config(fleet.config), ledger, "last", (), without)
    assert fleet.run(["retry", "last", "--yes"]).exit_code == 0  # camden-x goes out meanwhile
    outcome = retract_posts(ledger, record.id, posts, accounts, without)
    ledger.close()
    [camden] = [result for result in outcome.results if result.account.name == "camden-x"]
    assert camden.status == "failed"
    assert "credentials not set in the environment: CAMDEN_X_" in (camden.error or "")
    assert "KeyError" not in (camden.error or "")
    assert len(fleet.x.live_posts("MPSCamden")) == 1
