"""Reviewed broadcasts against the fakes: plan, approve, apply, and every refusal, with
nothing sent when refused, nothing posted twice, and a killed apply finished exactly once."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.terminal import fleet_args
from tests.terminal import on_terminal as run_on_terminal
from tests.test_crash import wait_for
from tests.test_delivery import assert_exactly_one_post_each_and_ledger_agrees

RUMOUR = ["--all", "--template", "rumour-control", "--var", "rumour=a riot in Mare Street"]
REVIEWED = """\
    approvals:
      required: true
      two_person: true
      expires_after: 2h
    """
EXPECTED = {
    "hackney-x": "Hackney: rumours of a riot in Mare Street are untrue.\nUpdates: hackney-x.",
    "hackney-facebook": "Hackney: rumours of a riot in Mare Street are untrue.\n"
                        "Updates: hackney-facebook.",
    "camden-x": "Camden: rumours of a riot in Mare Street are untrue.\nUpdates: camden-x.",
    "camden-facebook": "Camden: rumours of a riot in Mare Street are untrue.\n"
                       "Updates: camden-facebook.",
}


def approvals(fleet, section: str = REVIEWED) -> None:
    """Give the fleet's accounts.yaml an approvals section (after everything else)."""
    fleet.config.write_text(fleet.config.read_text() + textwrap.dedent(section))


def plan(fleet, *extra: str, who: str = "alice", name: str = "plan.json"):
    path = fleet.root / name
    outcome = fleet.run(["send", *RUMOUR, "--plan", str(path), "--as", who, *extra])
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    return path, outcome


def approve(fleet, path: Path, who: str = "bob", *extra: str):
    return fleet.run(["approve", str(path), "--as", who, "--yes", *extra])


def apply(fleet, path: Path, who: str = "carol", *extra: str, env=None):
    return fleet.run(["apply", str(path), "--as", who, "--yes", "--json", *extra], env=env)


def posted(fleet) -> dict[str, list[str]]:
    return {"hackney-x": fleet.x_texts("MPSHackney"), "camden-x": fleet.x_texts("MPSCamden"),
            "hackney-facebook": fleet.page_texts("1001"),
            "camden-facebook": fleet.page_texts("1002")}


def nothing_posted(fleet) -> bool:
    return not any(posted(fleet).values()) and not [
        request for request in fleet.x.requests + fleet.graph.requests
        if request.method in ("POST", "DELETE")]


def statuses(outcome) -> dict[str, str]:
    return {post["account"]: post["status"] for post in json.loads(outcome.stdout)["posts"]}


def refusal(outcome) -> str:
    assert outcome.exit_code == 2, outcome.stdout + outcome.stderr
    assert outcome.error_lines[-1] == "metpost: error: nothing was sent", outcome.stderr
    return "\n".join(outcome.error_lines)


def edit_plan(path: Path, change) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


# -- the whole flow ------------------------------------------------------------------------------

def test_plan_writes_the_exact_posts_and_sends_nothing(fleet):
    approvals(fleet)
    path, outcome = plan(fleet)
    assert nothing_posted(fleet)
    document = json.loads(path.read_text())
    assert list(document) == ["metpost_plan", "digest", "content", "approvals"]
    content = document["content"]
    assert list(content) == ["id", "created_at", "expires_at", "author", "template", "request",
                             "key", "public_safety", "posts"]
    assert {post["account"]: post["text"] for post in content["posts"]} == EXPECTED
    assert content["author"]["name"] == "alice"
    assert content["author"]["os_user"] and content["author"]["host"]
    assert content["template"] == "rumour-control"
    assert content["request"]["selection"]["all"] is True
    assert content["request"]["vars"] == {"rumour": "a riot in Mare Street"}
    made = re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", content["created_at"])
    assert made is not None
    from datetime import datetime

    lifetime = (datetime.fromisoformat(content["expires_at"])
                - datetime.fromisoformat(content["created_at"]))
    assert lifetime.total_seconds() == 2 * 3600
    assert document["approvals"] == []
    assert document["digest"].startswith("sha256:")
    assert f"Wrote the plan to {path}; it needs approval by one person other than its " \
           "author: not approved yet." in outcome.stdout
    assert f"Next: someone other than you runs metpost approve {path}, then: metpost apply " \
           f"{path}" in outcome.stdout
    # The plan's making is in the ledger, with its digest: that, not the file, is believed.
    assert fleet.ledger_rows("SELECT kind, actor, outcome, plan_digest FROM audit_events") == [
        ("plan", "alice", "planned", document["digest"])]
    assert fleet.ledger_rows("SELECT COUNT(*) FROM posts") == [(0,)]


def test_approve_then_apply_posts_exactly_the_plan_even_after_template_and_vars_change(fleet):
    approvals(fleet)
    path, _ = plan(fleet)
    approved = approve(fleet, path)
    assert approved.exit_code == 0, approved.stderr
    assert "Approved plan" in approved.stdout and "as bob" in approved.stdout
    document = json.loads(path.read_text())
    [entry] = document["approvals"]
    assert entry["by"] == "bob" and entry["digest"] == document["digest"]
    # What would render now differs: the template and an account's vars changed.
    template = fleet.root / "templates" / "rumour-control.j2"
    template.write_text(template.read_text().replace("are untrue", "are FALSE"))
    config = fleet.config.read_text().replace("    platform: x\n",
                                              "    platform: x\n    vars: {extra: 'y'}\n", 1)
    fleet.config.write_text(config)
    applied = apply(fleet, path)
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert statuses(applied) == dict.fromkeys(EXPECTED, "sent")
    assert posted(fleet) == {account: [text] for account, text in EXPECTED.items()}
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


def test_applying_twice_posts_nothing_twice(fleet):
    approvals(fleet)
    path, _ = plan(fleet)
    assert approve(fleet, path).exit_code == 0
    assert apply(fleet, path).exit_code == 0
    requests = fleet.x.request_count + fleet.graph.request_count
    again = apply(fleet, path)
    assert again.exit_code == 0, again.stderr
    assert set(statuses(again).values()) == {"already sent"}
    assert "this plan was applied already as broadcast" in again.stderr
    assert fleet.x.request_count + fleet.graph.request_count == requests
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


def test_a_plan_needs_no_approval_where_the_config_requires_none(fleet):
    path, outcome = plan(fleet)
    assert "no approval is needed for it" in outcome.stdout
    applied = apply(fleet, path)
    assert applied.exit_code == 0, applied.stderr
    assert posted(fleet) == {account: [text] for account, text in EXPECTED.items()}


def test_plan_and_approve_write_the_dry_run_page(fleet):
    approvals(fleet)
    page = fleet.root / "plan.html"
    path, outcome = plan(fleet, "--html", str(page))
    assert f"Wrote the plan's page to {page}" in outcome.stderr
    html = page.read_text()
    assert "rumours of a riot in Mare Street are untrue." in html and "<script" not in html
    review_page = fleet.root / "review.html"
    assert approve(fleet, path, "bob", "--html", str(review_page)).exit_code == 0
    assert "rumours of a riot in Mare Street are untrue." in review_page.read_text()


def test_plan_json_says_what_it_wrote(fleet):
    approvals(fleet)
    path, outcome = plan(fleet, "--json")
    document = json.loads(outcome.stdout)
    assert document["plan"]["file"] == str(path)
    assert document["plan"]["approval_needed"] is True
    assert document["plan"]["approved"] is False
    assert document["plan"]["digest"] == json.loads(path.read_text())["digest"]
    assert {post["account"] for post in document["posts"]} == set(EXPECTED)


# -- refusals: nothing is sent -------------------------------------------------------------------

def test_an_edited_plan_is_refused(fleet):
    approvals(fleet)
    path, _ = plan(fleet)
    assert approve(fleet, path).exit_code == 0

    def reword(document):
        document["content"]["posts"][0]["text"] = "Hackney: all is well."
    edit_plan(path, reword)
    lines = refusal(apply(fleet, path))
    assert f"{path} was edited after it was approved: its content's digest is now sha256:" \
           in lines
    assert "Make a new plan with metpost send --plan, and have it approved" in lines
    assert nothing_posted(fleet)
    # Editing the digest it states to match does not help: the ledger holds the real one.
    edit_plan(path, lambda document: document.update(
        digest="sha256:" + "0" * 64))
    assert "was edited after it was approved" in refusal(apply(fleet, path))
    assert nothing_posted(fleet)


def test_a_plan_edited_before_approval_cannot_be_approved(fleet):
    approvals(fleet)
    path, _ = plan(fleet)
    edit_plan(path, lambda document: document["content"]["author"].update(name="bob"))
    outcome = approve(fleet, path, "carol")
    assert outcome.exit_code == 2
    assert f"{path} was edited after it was made" in outcome.stderr
    assert outcome.error_lines[-1] == "metpost: error: nothing was approved"


def test_reindenting_a_plan_or_adding_approvals_by_hand_changes_nothing(fleet):
    approvals(fleet)
    path, _ = plan(fleet)
    document = json.loads(path.read_text())
    document["approvals"].append({"by": "forged", "os_user": "x", "host": "y", "at": "now",
                                  "digest": document["digest"]})
    path.write_text(json.dumps(document, indent=4, sort_keys=True))
    # The forged entry is no approval: the ledger holds none.
    assert "needs an approval before it is applied" in refusal(apply(fleet, path))
    assert approve(fleet, path).exit_code == 0
    assert apply(fleet, path).exit_code == 0


def test_a_missing_approval_is_refused(fleet):
    approvals(fleet)
    path, _ = plan(fleet)
    lines = refusal(apply(fleet, path))
    short_id = json.loads(path.read_text())["content"]["id"][:12]
    assert lines.startswith(f"metpost: error: plan {short_id} "
                            "needs an approval before it is applied (accounts.yaml: "
                            "approvals.required): have someone other than its author run "
                            "metpost approve on it, then apply it again")
    assert nothing_posted(fleet)


def test_the_author_cannot_approve_their_own_plan_under_two_person(fleet):
    approvals(fleet)
    path, _ = plan(fleet, who="alice")
    outcome = approve(fleet, path, "Alice")  # the same name, another case
    assert outcome.exit_code == 2
    assert "you (Alice) made plan" in outcome.stderr
    assert "approvals.two_person requires another person to approve it" in outcome.stderr
    assert json.loads(path.read_text())["approvals"] == []
    assert "needs an approval" in refusal(apply(fleet, path))
    assert nothing_posted(fleet)


@pytest.mark.parametrize("disguised", [
    "\u0430lice",  # a Cyrillic a
    "\uff41\uff4c\uff49\uff43\uff45",  # full-width letters
    "Ali\u0301ce",  # an accent
])
def test_the_author_cannot_approve_under_a_name_that_looks_like_theirs(fleet, disguised):
    approvals(fleet)
    path, _ = plan(fleet, who="alice")
    outcome = approve(fleet, path, disguised)
    assert outcome.exit_code == 2
    assert "approvals.two_person requires another person to approve it" in outcome.stderr
    assert nothing_posted(fleet)


@pytest.mark.parametrize("disguised", ["Al\u034fice", "Alice\u3164", "Ali\ufe0fce", "A\u2800lice"])
def test_a_name_with_an_invisible_character_is_refused(fleet, disguised):
    from metpost.approvals import name_skeleton

    approvals(fleet)
    path, _ = plan(fleet, who="alice")
    outcome = approve(fleet, path, disguised)
    assert outcome.exit_code == 2
    assert outcome.error_lines == [
        "metpost: error: --as: the name holds control or invisible characters; type it plainly"]
    assert nothing_posted(fleet)
    # Written into a plan file by hand, it still looks like, and counts as, the same person.
    assert name_skeleton(disguised) == name_skeleton("alice")


def test_one_approver_under_two_names_that_look_alike_counts_once(fleet):
    approvals(fleet, "approvals: {required: true, approvers: 2}\n")
    path, _ = plan(fleet)
    assert approve(fleet, path, "bob").exit_code == 0
    assert approve(fleet, path, "\uff42\uff4f\uff42").exit_code == 0  # full-width bob
    assert "has 1 of the 2 approvals it needs" in refusal(apply(fleet, path))
    assert nothing_posted(fleet)


def test_an_approval_by_the_author_does_not_count_once_two_person_is_required(fleet):
    approvals(fleet, "approvals: {required: true}\n")
    path, _ = plan(fleet, who="alice")
    assert approve(fleet, path, "alice").exit_code == 0
    fleet.config.write_text(fleet.config.read_text().replace(
        "approvals: {required: true}", "approvals: {required: true, two_person: true}"))
    lines = refusal(apply(fleet, path))
    assert "is approved only by its author, alice, and accounts.yaml requires a second person " \
           "(approvals.two_person)" in lines
    assert nothing_posted(fleet)
    assert approve(fleet, path, "bob").exit_code == 0
    assert apply(fleet, path).exit_code == 0


def test_two_approvers_when_the_config_asks_for_two(fleet):
    approvals(fleet, "approvals: {required: true, approvers: 2}\n")
    path, _ = plan(fleet)
    assert approve(fleet, path, "bob").exit_code == 0
    again = approve(fleet, path, "bob")
    assert again.exit_code == 0 and "approved plan" in again.stdout and "already" in again.stdout
    assert "has 1 of the 2 approvals it needs" in refusal(apply(fleet, path))
    assert approve(fleet, path, "dora").exit_code == 0
    assert apply(fleet, path).exit_code == 0


def test_an_expired_plan_is_refused(fleet):
    approvals(fleet)
    path, _ = plan(fleet)
    assert approve(fleet, path).exit_code == 0
    fleet.config.write_text(fleet.config.read_text().replace("expires_after: 2h",
                                                             "expires_after: 1s"))
    time.sleep(1.2)
    lines = refusal(apply(fleet, path))
    assert re.search(r"plan \w{12} expired at .* \(made .*; approvals.expires_after\): make a "
                     r"new plan with metpost send --plan, and have it approved", lines)
    assert nothing_posted(fleet)
    late = approve(fleet, path, "dora")
    assert late.exit_code == 2 and "expired at" in late.stderr


def test_an_account_removed_from_the_config_is_refused(fleet):
    approvals(fleet)
    path, _ = plan(fleet)
    assert approve(fleet, path).exit_code == 0
    lines = fleet.config.read_text().splitlines(keepends=True)
    start = lines.index("  - name: camden-x\n")
    end = next(n for n in range(start + 1, len(lines)) if lines[n].startswith("  - name:"))
    fleet.config.write_text("".join(lines[:start] + lines[end:]))
    text = refusal(apply(fleet, path))
    assert f"metpost: error: camden-x: account 'camden-x' is no longer in {fleet.config}; " \
           "restore it, or make a new plan" in text
    assert nothing_posted(fleet)


def test_a_paused_account_is_refused(fleet):
    approvals(fleet)
    path, _ = plan(fleet)
    assert approve(fleet, path).exit_code == 0
    fleet.config.write_text(fleet.config.read_text().replace(
        "  - name: camden-x\n", "  - name: camden-x\n    status: paused\n"))
    text = refusal(apply(fleet, path))
    assert re.search(r"camden-x: account 'camden-x' is paused \(.*accounts.yaml:\d+\); set its "
                     r"status: live to post from it, or make a new plan without it", text)
    assert nothing_posted(fleet)


def edit_config(fleet, old: str, new: str) -> None:
    text = fleet.config.read_text()
    assert text.count(old) == 1, old
    fleet.config.write_text(text.replace(old, new))


def account_line(fleet, account: str) -> int:
    return fleet.config.read_text().splitlines().index(f"  - name: {account}") + 1


def lines_naming(text: str, account: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"metpost: error: {account}:")]


@pytest.mark.parametrize("account, old, new, change", [
    ("hackney-x", "handle: '@MPSHackney'", "handle: '@SomeoneElse'",
     "handle was '@MPSHackney', now '@SomeoneElse'"),
    # Camden's approved text must never reach Hackney's page.
    ("camden-facebook", "page_id: '1002'", "page_id: '1001'", "page_id was '1002', now '1001'"),
    ("camden-x", "platform: x\n    handle: '@MPSCamden'",
     "platform: x\n    handle: '@MPSHackney'", "handle was '@MPSCamden', now '@MPSHackney'"),
])
def test_an_account_that_posts_elsewhere_than_planned_is_refused(fleet, account, old, new,
                                                                 change):
    approvals(fleet)
    path, _ = plan(fleet)
    assert approve(fleet, path).exit_code == 0
    original = fleet.config.read_text()
    edit_config(fleet, old, new)
    text = refusal(apply(fleet, path))
    assert lines_naming(text, account) == [
        f"metpost: error: {account}: account '{account}' posts elsewhere now than when the plan "
        f"was made ({fleet.config}:{account_line(fleet, account)}): {change}; plan and approve "
        "it again"]
    assert nothing_posted(fleet)
    # As it was approved, it goes.
    fleet.config.write_text(original)
    applied = apply(fleet, path)
    assert applied.exit_code == 0, applied.stderr
    assert posted(fleet) == {account: [text] for account, text in EXPECTED.items()}


def test_a_page_behind_another_api_url_is_refused_naming_every_change_on_one_line(fleet):
    from tests.fake_platforms import FakeGraph

    approvals(fleet)
    path, _ = plan(fleet)
    assert approve(fleet, path).exit_code == 0
    with FakeGraph() as elsewhere:
        elsewhere.add_page("1002", "Camden", "camden-page-token-s3cr3t")
        elsewhere.add_page("1003", "Islington", "camden-page-token-s3cr3t")
        lines = fleet.config.read_text().splitlines(keepends=True)
        start = lines.index("  - name: camden-facebook\n")
        lines[start:start + 7] = [line.replace(fleet.graph.url, elsewhere.url).replace(
            "'1002'", "'1003'") for line in lines[start:start + 7]]
        fleet.config.write_text("".join(lines))
        text = refusal(apply(fleet, path))
        assert lines_naming(text, "camden-facebook") == [
            f"metpost: error: camden-facebook: account 'camden-facebook' posts elsewhere now "
            f"than when the plan was made ({fleet.config}:{start + 1}): api_url was "
            f"'{fleet.graph.url}', now '{elsewhere.url}', page_id was '1002', now '1003'; plan "
            "and approve it again"]
        assert lines_naming(text, "hackney-facebook") == []
        assert nothing_posted(fleet)
        assert not [request for request in elsewhere.requests if request.method == "POST"]
        assert "s3cr3t" not in text


def test_credentials_and_how_a_page_is_posted_to_are_not_where_it_goes(fleet):
    """A renewed token (here under another variable) or another Graph version posts to the
    same page: the approved plan still goes."""
    approvals(fleet)
    path, _ = plan(fleet)
    assert approve(fleet, path).exit_code == 0
    edit_config(fleet, "'${HACKNEY_FB_TOKEN}'", "'${HACKNEY_FB_TOKEN_RENEWED}'")
    edit_config(fleet, "page_id: '1002'", "page_id: '1002'\n    graph_version: v25.0")
    applied = apply(fleet, path, "carol", env={
        "HACKNEY_FB_TOKEN_RENEWED": fleet.env["HACKNEY_FB_TOKEN"]})
    assert applied.exit_code == 0, applied.stderr
    assert posted(fleet) == {account: [text] for account, text in EXPECTED.items()}


def test_a_plan_from_before_destinations_were_recorded_is_judged_by_what_it_records(fleet):
    """An older metpost's plan has no "destination": its platform and handle are compared,
    and it goes while they match. Such a plan, and the ledger's record of its making and
    approval, are made here from a new one: the field taken out, under another id."""
    from metpost.plans import content_digest

    approvals(fleet)
    path, _ = plan(fleet)
    assert approve(fleet, path).exit_code == 0
    newer = json.loads(path.read_text())["content"]["id"]

    def as_older_metpost_wrote_it(document):
        document["content"]["id"] = "older" + newer
        for post in document["content"]["posts"]:
            del post["destination"]
        document["digest"] = content_digest(document["content"])
        for approval in document["approvals"]:
            approval["digest"] = document["digest"]
    edit_plan(path, as_older_metpost_wrote_it)
    older = json.loads(path.read_text())["digest"]
    columns = ("at, kind, actor, os_user, host, outcome, broadcast_id, source, accounts, "
               "approved_by, urgent, reason, detail")
    fleet.ledger_execute(f"INSERT INTO audit_events (uid, plan_id, plan_digest, {columns}) "
                         f"SELECT uid || '-older', 'older{newer}', '{older}', {columns} "
                         f"FROM audit_events WHERE plan_id = '{newer}'")
    original = fleet.config.read_text()
    edit_config(fleet, "handle: '@MPSHackney'", "handle: '@SomeoneElse'")
    text = refusal(apply(fleet, path))
    assert "handle was '@MPSHackney', now '@SomeoneElse'; plan and approve it again" in text
    assert nothing_posted(fleet)
    fleet.config.write_text(original)
    applied = apply(fleet, path)
    assert applied.exit_code == 0, applied.stderr
    assert posted(fleet) == {account: [text] for account, text in EXPECTED.items()}


def test_a_webhook_url_that_changed_is_refused_and_never_shown(tmp_path, request):
    from tests.conftest import run, write_project
    from tests.fake_platforms.webhook_receiver import FakeWebhookReceiver
    from tests.social import ledger_for

    ledger = ledger_for(request, tmp_path)
    with FakeWebhookReceiver() as planned, FakeWebhookReceiver() as other:
        approved_url = f"{planned.url}/hooks/t0ken-approved"
        config = write_project(tmp_path / "project", f"""\
            approvals: {{required: true}}
            accounts:
              - name: alerts-hook
                platform: webhook
                url: {approved_url}
            """)

        def metpost(*args: str):
            command, *rest = args
            return run([command, "--config", str(config), "--ledger", ledger, *rest])
        path = tmp_path / "plan.json"
        made = metpost("send", "--all", "-m", "Roads reopen at 6pm.", "--plan", str(path),
                       "--as", "alice")
        assert made.exit_code == 0, made.stderr
        assert metpost("approve", str(path), "--as", "bob", "--yes").exit_code == 0
        assert "t0ken" not in path.read_text()  # the plan holds its digest, not the url
        config.write_text(config.read_text().replace(approved_url,
                                                     f"{other.url}/hooks/t0ken-other"))
        outcome = metpost("apply", str(path), "--as", "carol", "--yes")
        text = refusal(outcome)
        assert lines_naming(text, "alerts-hook") == [
            f"metpost: error: alerts-hook: account 'alerts-hook' posts elsewhere now than when "
            f"the plan was made ({config}:3): url changed (not shown: it may hold a secret); "
            "plan and approve it again"]
        assert "t0ken" not in outcome.stdout + outcome.stderr
        assert planned.requests == [] and other.requests == []
        config.write_text(config.read_text().replace(f"{other.url}/hooks/t0ken-other",
                                                     approved_url))
        applied = metpost("apply", str(path), "--as", "carol", "--yes")
        assert applied.exit_code == 0, applied.stderr
        assert [delivery.body for delivery in planned.deliveries] == [
            {"text": "Roads reopen at 6pm."}]
        assert other.requests == []


def test_a_webhook_url_given_as_a_credential_is_approved_by_its_variable(tmp_path, request):
    from tests.conftest import run, write_project
    from tests.fake_platforms.webhook_receiver import FakeWebhookReceiver
    from tests.social import ledger_for

    ledger = ledger_for(request, tmp_path)
    with FakeWebhookReceiver() as receiver:
        config = write_project(tmp_path / "project", """\
            approvals: {required: true}
            accounts:
              - name: alerts-hook
                platform: webhook
                credentials: {url: '${ALERTS_HOOK_URL}'}
            """)
        env = {"ALERTS_HOOK_URL": f"{receiver.url}/hooks/t0ken", "OTHER_HOOK_URL": "x"}

        def metpost(*args: str):
            command, *rest = args
            return run([command, "--config", str(config), "--ledger", ledger, *rest], env=env)
        path = tmp_path / "plan.json"
        assert metpost("send", "--all", "-m", "Roads reopen at 6pm.", "--plan", str(path),
                       "--as", "alice").exit_code == 0
        [post] = json.loads(path.read_text())["content"]["posts"]
        assert post["destination"]["url"] == "the credential ${ALERTS_HOOK_URL}"
        assert metpost("approve", str(path), "--as", "bob", "--yes").exit_code == 0
        config.write_text(config.read_text().replace("ALERTS_HOOK_URL", "OTHER_HOOK_URL"))
        text = refusal(metpost("apply", str(path), "--as", "carol", "--yes"))
        assert "alerts-hook: account 'alerts-hook' posts elsewhere now than when the plan was " \
               "made" in text and "url changed (not shown: it may hold a secret)" in text
        assert receiver.requests == []


def test_images_are_checked_against_their_recorded_digests(fleet):
    from tests.fake_platforms.images import png_bytes as png

    approvals(fleet)
    image = fleet.root / "cctv.png"
    image.write_bytes(png(8, 8))
    path, _ = plan(fleet, "--platform", "x", "--image", str(image), "--alt", "CCTV still")
    [first, _] = json.loads(path.read_text())["content"]["posts"]
    assert first["images"][0]["sha256"] and first["images"][0]["alt"] == "CCTV still"
    assert approve(fleet, path).exit_code == 0
    image.write_bytes(png(9, 9))
    text = refusal(apply(fleet, path))
    assert f"image {image} has changed since the plan was made" in text
    assert nothing_posted(fleet)
    image.write_bytes(png(8, 8))  # the original back
    applied = apply(fleet, path)
    assert applied.exit_code == 0, applied.stderr
    assert [len(post.media_ids) for post in fleet.x.live_posts()] == [1, 1]


def test_a_plan_is_refused_where_the_ledger_never_saw_it(fleet, tmp_path):
    path, _ = plan(fleet)
    other = str(tmp_path / "other.sqlite3")
    assert fleet.run(["send", "--account", "camden-x", "-m", "hi", "--yes",
                      "--ledger", other]).exit_code == 0
    outcome = fleet.run(["apply", str(path), "--yes", "--ledger", other])
    assert outcome.exit_code == 2
    assert "is not recorded in" in outcome.stderr


def test_apply_without_a_terminal_needs_yes(fleet):
    approvals(fleet)
    path, _ = plan(fleet)
    assert approve(fleet, path).exit_code == 0
    outcome = fleet.run(["apply", str(path)])
    assert outcome.exit_code == 2
    assert "not on a terminal: add --yes to post without confirmation" in outcome.stderr
    refused = fleet.run(["approve", str(path), "--as", "dora"])
    assert refused.exit_code == 2
    assert "add --yes to approve without confirmation" in refused.stderr


def test_a_file_that_is_not_a_plan_says_so(fleet):
    path = fleet.root / "notes.json"
    path.write_text('{"hello": 1}')
    outcome = fleet.run(["apply", str(path), "--yes"])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [f'metpost: error: {path}: not a metpost plan (no '
                                   '"metpost_plan" key); make one with metpost send ... --plan '
                                   'FILE']
    missing = fleet.run(["approve", str(fleet.root / "nope.json"), "--yes"])
    assert missing.error_lines == [f"metpost: error: {fleet.root / 'nope.json'}: no such plan "
                                   "file"]


def run_apart(fleet, args: list[str]) -> subprocess.CompletedProcess[str]:
    """A metpost command for the fleet in a process of its own, given 30 s: one that waits for
    ever (on a named pipe) fails the test instead of hanging it."""
    return subprocess.run([sys.executable, "-m", "metpost", *args, "--config", str(fleet.config),
                           "--ledger", fleet.ledger], env={**os.environ, **fleet.env},
                          text=True, capture_output=True, timeout=30, check=False)


def a_socket(path: Path) -> Path:
    import socket

    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    listener.close()  # the file stays, and nobody listens on it
    return path


@pytest.mark.parametrize("command", ["approve", "apply"])
@pytest.mark.parametrize("made, kind", [
    (lambda path: os.mkfifo(path) or path, "a named pipe"),
    (lambda _path: Path("/dev/zero"), "a device"),
    (a_socket, "a socket"),
])
def test_a_pipe_device_or_socket_is_refused_without_waiting_on_it(fleet, command, made, kind):
    target = made(fleet.root / "plan.json")
    done = run_apart(fleet, [command, str(target), "--yes"])
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"metpost: error: {target}: not a plan file: it is {kind}; give the path of the file "
        "metpost send --plan FILE wrote"]
    assert done.stdout == ""
    if kind == "a named pipe":
        assert stat.S_ISFIFO(os.stat(target).st_mode)  # left as it was
    assert nothing_posted(fleet)


def test_a_file_swapped_for_a_pipe_after_it_was_looked_at_is_refused_too(tmp_path,
                                                                         monkeypatch):
    """What is opened is looked at again, opened without waiting for a writer."""
    import threading

    from metpost import files

    pipe = tmp_path / "plan.json"
    os.mkfifo(pipe)
    monkeypatch.setattr(files, "file_target", lambda path: (path, None))  # it looked regular
    raised: list[BaseException] = []

    def read() -> None:
        try:
            files.read_regular_file(pipe, 100)
        except BaseException as error:  # handed to the test
            raised.append(error)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # blocked on the pipe: let it go before failing
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a named pipe waited for a writer")
    assert [type(error) for error in raised] == [files.NotAFileError]
    assert raised[0].kind == "a named pipe"


def test_a_plan_saved_with_a_byte_order_mark_is_the_same_plan(fleet):
    """A Windows editor saves UTF-8 with a byte order mark: the content, and so the digest
    the ledger recorded, is unchanged by it."""
    approvals(fleet)
    path, _ = plan(fleet)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    approved = approve(fleet, path)
    assert approved.exit_code == 0, approved.stderr
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    applied = apply(fleet, path)
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert posted(fleet) == {account: [text] for account, text in EXPECTED.items()}


@pytest.mark.parametrize("text, problem", [
    ("[" * 100_000 + "]" * 100_000, "nested more than 32 deep"),
    ('{"metpost_plan": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}',
     "nested more than 32 deep"),
    ('{"metpost_plan": 1' + "0" * 100_000 + "}", "it holds a number of 100001 digits"),
    ('{"metpost_plan": NaN}', "it holds NaN, which is not JSON"),
    ('{"metpost_plan": -Infinity}', "it holds -Infinity, which is not JSON"),
    ('{"metpost_plan": 1e999}', "it holds the number 1e999, too large to read"),
    ('{"metpost_plan": 0.' + "1" * 50 + "}", "it holds a number of 52 characters"),
    ('{"metpost_plan": 1, "content": "\\ud800"}',
     "it holds a \\u escape that is not Unicode text (a lone surrogate)"),
    ('{"metpost_plan": 1, "x": "' + "y" * (8 * 1024 * 1024) + '"}', "larger than 8 MB"),
    # read no further than the bound, which falls inside a character: still too large
    ('{"x":  "' + "é" * (5 * 1024 * 1024) + '"}', "larger than 8 MB"),
])
def test_a_file_no_plan_could_be_is_refused_in_one_line(fleet, text, problem):
    path = fleet.root / "p.json"
    path.write_text(text)
    outcome = fleet.run(["apply", str(path), "--yes"])
    assert outcome.exit_code == 2, outcome.stderr
    assert outcome.error_lines == [f"metpost: error: {path}: not a metpost plan: {problem}"]
    assert nothing_posted(fleet)


def test_a_plan_with_many_problems_lists_the_first_twenty(fleet):
    path = fleet.root / "p.json"
    path.write_text(json.dumps({"metpost_plan": 1, **{f"k{n}\nforged": n for n in range(500)}}))
    outcome = fleet.run(["apply", str(path), "--yes"])
    assert outcome.exit_code == 2
    assert len(outcome.error_lines) == 21
    assert outcome.error_lines[0] == (f"metpost: error: {path}: 'k0\\nforged': not a key plans "
                                      "have")
    assert outcome.error_lines[-1] == f"metpost: error: {path}: and 508 more problems"


# -- sending without a plan ----------------------------------------------------------------------

def test_a_send_without_a_plan_is_refused_where_approval_is_required(fleet):
    approvals(fleet)
    outcome = fleet.run(["send", *RUMOUR, "--yes"])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [
        "metpost: error: this broadcast needs approval (accounts.yaml: approvals.required): "
        "plan it with --plan FILE, have it approved with metpost approve FILE, then post it "
        "with metpost apply FILE", "metpost: error: nothing was sent"]
    assert nothing_posted(fleet)
    dry = fleet.run(["send", *RUMOUR, "--dry-run"])
    assert dry.exit_code == 0
    assert "this broadcast needs approval" in dry.stderr


def test_approval_required_for_a_selection_only(fleet):
    approvals(fleet, "approvals: {required: {tag: bcu-ce, platform: x}}\n")
    camden = fleet.run(["send", "--borough", "Camden", "-m", "{{ borough }}: hi", "--yes"])
    assert camden.exit_code == 0, camden.stderr
    hackney_fb = fleet.run(["send", "--account", "hackney-facebook", "-m", "hi", "--yes"])
    assert hackney_fb.exit_code == 0, hackney_fb.stderr
    hackney_x = fleet.run(["send", "--borough", "Hackney", "-m", "{{ borough }}: hi", "--yes"])
    assert hackney_x.exit_code == 2
    assert "this broadcast needs approval" in hackney_x.stderr
    assert fleet.x_texts("MPSHackney") == []


def test_a_standing_approval_lets_its_template_go_out_at_once(fleet):
    approvals(fleet, """\
        approvals:
          required: true
          two_person: true
          standing:
            - {template: rumour-control, by: inspector-on-call}
        """)
    sent = fleet.run(["send", *RUMOUR, "--as", "pc-patel", "--yes", "--json"])
    assert sent.exit_code == 0, sent.stderr
    assert set(statuses(sent).values()) == {"sent"}
    rows = fleet.ledger_rows("SELECT kind, actor, outcome, approved_by FROM audit_events")
    assert rows[0] == ("send", "pc-patel", "started", '["inspector-on-call"]')
    # Everything else still needs a plan and a second person ...
    other = fleet.run(["send", "--all", "-m", "{{ borough }}: patrols", "--yes"])
    assert other.exit_code == 2 and "needs approval" in other.stderr
    # ... and the inspector cannot rely on their own standing approval.
    own = fleet.run(["send", *RUMOUR, "--var", "rumour=a fire", "--as", "Inspector-On-Call",
                     "--yes"])
    assert own.exit_code == 2 and "needs approval" in own.stderr
    # A plan of it needs no one else's approval either.
    path, outcome = plan(fleet, "--var", "rumour=looting", who="pc-patel")
    assert "approved by inspector-on-call (standing approval)" in outcome.stdout
    applied = apply(fleet, path)
    assert applied.exit_code == 0, applied.stderr


def test_urgent_bypasses_approval_where_allowed_and_is_recorded(fleet):
    approvals(fleet, "approvals: {required: true, urgent: {allowed: {tag: borough}}}\n")
    sent = fleet.run(["send", "--all", "-m", "{{ borough }}: evacuate now", "--urgent",
                      "--reason", "bomb threat, no time", "--as", "sgt-lee", "--yes", "--json"])
    assert sent.exit_code == 0, sent.stderr
    rows = fleet.ledger_rows("SELECT kind, actor, outcome, urgent, reason FROM audit_events")
    assert rows[0] == ("send", "sgt-lee", "started", 1, "bomb threat, no time")
    assert rows[1][:4] == ("send", "sgt-lee", "done", 1)


def test_urgent_is_refused_where_the_config_does_not_allow_it(fleet):
    approvals(fleet)
    outcome = fleet.run(["send", *RUMOUR, "--urgent", "--reason", "now", "--yes"])
    assert outcome.exit_code == 2
    assert outcome.error_lines[0] == (
        "metpost: error: --urgent is not allowed for this broadcast by accounts.yaml "
        "(approvals.urgent.allowed: nowhere); plan it with --plan FILE and have it approved")
    assert nothing_posted(fleet)


@pytest.mark.parametrize("arguments, message", [
    (["--urgent", "--yes"], '--urgent needs --reason "...": say why this cannot wait for '
                            "approval"),
    (["--reason", "x", "--yes"], "--reason goes with --urgent"),
    (["--plan", "p.json", "--dry-run"], "--plan writes a plan and sends nothing already: "
                                        "leave out --dry-run"),
    (["--plan", "p.json", "--urgent", "--reason", "x"], "--urgent sends now instead of "
                                                        "planning: leave out --plan"),
])
def test_review_options_that_do_not_go_together(fleet, arguments, message):
    outcome = fleet.run(["send", *RUMOUR, *arguments])
    assert outcome.exit_code == 2
    assert message in outcome.stderr


def test_a_plan_with_a_problem_is_not_written(fleet):
    path = fleet.root / "plan.json"
    outcome = fleet.run(["send", "--platform", "x", "--all", "-m", "x" * 300, "--plan",
                         str(path)])
    assert outcome.exit_code == 2
    assert outcome.error_lines[-1] == "metpost: error: no plan was written"
    assert not path.exists()


def test_a_thread_is_planned_and_applied_part_by_part(fleet):
    long = " ".join(f"Sentence number {n} about the road closures." for n in range(12))
    path = fleet.root / "thread.json"
    outcome = fleet.run(["send", "--account", "hackney-x", "-m", long, "--thread", "--plan",
                         str(path)])
    assert outcome.exit_code == 0, outcome.stderr
    [post] = json.loads(path.read_text())["content"]["posts"]
    assert len(post["parts"]) >= 2 and post["parts"][0].endswith(f" 1/{len(post['parts'])}")
    applied = apply(fleet, path)
    assert applied.exit_code == 0, applied.stderr
    assert sorted(fleet.x_texts("MPSHackney")) == sorted(post["parts"])


# -- a killed apply ------------------------------------------------------------------------------

def test_a_kill_9_during_apply_and_a_rerun_finish_it_exactly_once(fleet):
    fleet.x.refuse_duplicates = fleet.graph.refuse_duplicates = False
    approvals(fleet)
    path, _ = plan(fleet)
    assert approve(fleet, path).exit_code == 0
    fleet.x.stall_next(1, seconds=30)
    fleet.graph.stall_next(1, seconds=30)
    process = subprocess.Popen(
        [sys.executable, "-m", "metpost", "apply", str(path), "--yes", "--json",
         "--concurrency", "1", "--config", str(fleet.config), "--ledger", fleet.ledger],
        env={**os.environ, **fleet.env}, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    wait_for(lambda: len(fleet.x.live_posts()) == 1 and len(fleet.graph.live_posts()) == 1)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    rerun = apply(fleet, path)
    assert rerun.exit_code == 0, rerun.stdout + rerun.stderr
    assert sorted(statuses(rerun).values()) == ["already sent"] * 2 + ["sent"] * 2
    assert_exactly_one_post_each_and_ledger_agrees(fleet)
    assert posted(fleet) == {account: [text] for account, text in EXPECTED.items()}
    # The trail shows the killed run began, and the rerun finished it.
    rows = fleet.ledger_rows("SELECT kind, outcome FROM audit_events WHERE kind = 'apply'")
    assert rows == [("apply", "started"), ("apply", "started"), ("apply", "done")]


# -- a plan's key names a broadcast of its own ---------------------------------------------------

DRAFT = "DRAFT, not for posting: rumours of a riot"


def send_draft(fleet, *accounts: str):
    """An unreviewed send under --key roads, which a plan's --key must never finish."""
    selection = [arg for account in accounts for arg in ("--account", account)]
    return fleet.run(["send", *selection, "-m", DRAFT, "--key", "roads", "--yes", "--json"])


def ledger_location(fleet) -> str:
    """The fleet's ledger as metpost names it in messages."""
    from metpost.ledger import open_ledger

    ledger = open_ledger(fleet.ledger, create=False)
    try:
        return ledger.location
    finally:
        ledger.close()


def test_a_plan_cannot_take_a_key_the_ledger_holds_already(fleet):
    assert send_draft(fleet, "camden-x").exit_code == 0
    [(broadcast,)] = fleet.ledger_rows("SELECT id FROM broadcasts")
    path = fleet.root / "plan.json"
    outcome = fleet.run(["send", *RUMOUR, "--key", "roads", "--plan", str(path), "--as",
                         "alice"])
    assert outcome.exit_code == 2, outcome.stdout + outcome.stderr
    assert outcome.error_lines == [
        f"metpost: error: --key roads: {ledger_location(fleet)} already holds broadcast "
        f"{broadcast} under this key, and a plan is a broadcast of its own; choose another --key"]
    assert not path.exists()
    assert fleet.ledger_rows("SELECT COUNT(*) FROM audit_events WHERE kind = 'plan'") == [(0,)]
    assert plan(fleet, "--key", "roads-2")[0].exists()  # another key is a plan of its own


def test_apply_refuses_a_broadcast_its_key_names_that_a_send_began(fleet):
    """The plan is made first, then a draft goes out under its key and fails for one
    account: applying the plan would post the draft there, which nobody approved."""
    path, _ = plan(fleet, "--key", "roads")
    fleet.x.credits_depleted_next(1)
    drafted = send_draft(fleet, "hackney-x")
    assert statuses(drafted) == {"hackney-x": "failed"}, drafted.stdout + drafted.stderr
    requests = fleet.x.request_count + fleet.graph.request_count
    lines = refusal(apply(fleet, path))
    [(broadcast,)] = fleet.ledger_rows("SELECT id FROM broadcasts")
    short = json.loads(path.read_text())["content"]["id"][:12]
    assert (f"plan {short}'s --key roads names broadcast {broadcast}, which this plan did not "
            "begin (its post for hackney-x is not the plan's); make a new plan with another "
            "--key, and have it approved") in lines
    assert fleet.x.request_count + fleet.graph.request_count == requests  # not one request
    assert not any(posted(fleet).values())
    assert fleet.ledger_rows("SELECT account, text FROM posts") == [("hackney-x", DRAFT)]
    assert fleet.ledger_rows("SELECT outcome FROM audit_events WHERE kind = 'apply'") == [
        ("refused",)]


def test_a_send_cannot_add_to_the_broadcast_an_approved_plan_began(fleet):
    """Under scoped approvals, a send may need no approval for its own accounts: its --key must
    still not slip an unreviewed post into the reviewed broadcast."""
    path, _ = plan(fleet, "--key", "roads")
    assert approve(fleet, path).exit_code == 0
    fleet.x.credits_depleted_next(1)  # one post fails: the broadcast is unfinished
    assert apply(fleet, path).exit_code == 1
    before = fleet.ledger_rows("SELECT account, text FROM posts ORDER BY account")
    requests = fleet.x.request_count + fleet.graph.request_count
    drafted = send_draft(fleet, "hackney-x")
    [(broadcast,)] = fleet.ledger_rows("SELECT id FROM broadcasts")
    short = json.loads(path.read_text())["content"]["id"][:12]
    assert refusal(drafted).startswith(
        f"metpost: error: --key roads names broadcast {broadcast}, which the approved plan "
        f"{short} began; finish it with metpost apply and that plan's file, or give this send "
        "a new --key")
    assert fleet.x.request_count + fleet.graph.request_count == requests
    assert fleet.ledger_rows("SELECT account, text FROM posts ORDER BY account") == before
    # The plan's own apply still finishes it.
    assert apply(fleet, path).exit_code == 0
    assert posted(fleet) == {account: [text] for account, text in EXPECTED.items()}


def test_apply_refuses_a_broadcast_a_send_began_even_with_the_plans_very_texts(fleet):
    path, _ = plan(fleet, "--key", "roads")
    sent = fleet.run(["send", *RUMOUR, "--key", "roads", "--yes"])
    assert sent.exit_code == 0, sent.stderr
    lines = refusal(apply(fleet, path))
    assert re.search(r"which this plan did not begin \(metpost send by \S+ began it at "
                     r"\d{4}-\d\d-\d\dT[\d:]+\+00:00\)", lines), lines
    assert posted(fleet) == {account: [text] for account, text in EXPECTED.items()}


def test_an_expired_plan_is_refused_though_its_key_names_a_broadcast(fleet):
    """Only this plan's own apply, begun in time, is finished after the plan expires."""
    approvals(fleet, "approvals:\n  expires_after: 2h\n")
    path, _ = plan(fleet, "--key", "roads")
    assert send_draft(fleet, "hackney-x").exit_code == 0
    fleet.config.write_text(fleet.config.read_text().replace("expires_after: 2h",
                                                             "expires_after: 1s"))
    time.sleep(1.2)
    lines = refusal(apply(fleet, path))
    assert "which this plan did not begin" in lines
    assert re.search(r"plan \w{12} expired at ", lines), lines


def test_an_apply_begun_before_the_plan_expired_is_finished_after(fleet):
    approvals(fleet)
    path, _ = plan(fleet)
    assert approve(fleet, path).exit_code == 0
    fleet.x.credits_depleted_next(1)
    first = apply(fleet, path)
    assert first.exit_code == 1, first.stdout + first.stderr
    assert sorted(statuses(first).values()) == ["failed"] + ["sent"] * 3
    fleet.config.write_text(fleet.config.read_text().replace("expires_after: 2h",
                                                             "expires_after: 1s"))
    time.sleep(1.2)
    rerun = apply(fleet, path)
    assert rerun.exit_code == 0, rerun.stdout + rerun.stderr
    assert sorted(statuses(rerun).values()) == ["already sent"] * 3 + ["sent"]
    assert posted(fleet) == {account: [text] for account, text in EXPECTED.items()}


def test_an_apply_killed_before_it_started_delivering_is_finished(fleet):
    """Killed after recording its broadcast and before the trail said it started: the
    broadcast is the plan's own (its very posts, begun by nobody else), so a rerun finishes
    it."""
    from metpost.ledger import open_ledger
    from metpost.reviews import read_plan_file
    from metpost.runner import plan_keys

    approvals(fleet)
    path, _ = plan(fleet, "--key", "roads")
    assert approve(fleet, path).exit_code == 0
    key, planned = plan_keys(read_plan_file(path))
    ledger = open_ledger(fleet.ledger, create=False)
    try:
        ledger.record_broadcast(key, "rumour-control", planned, label="roads")
    finally:
        ledger.close()
    applied = apply(fleet, path)
    assert applied.exit_code == 0, applied.stdout + applied.stderr
    assert posted(fleet) == {account: [text] for account, text in EXPECTED.items()}


# -- on a terminal -------------------------------------------------------------------------------

def on_terminal(fleet, args: list[str], answer: str) -> tuple[int, str]:
    """A metpost command for the fleet on a terminal, answering its first question."""
    return run_on_terminal(fleet_args(fleet, args), fleet.env, answer=answer, columns=120)


def test_on_a_terminal_approve_shows_the_plan_and_asks(fleet):
    approvals(fleet)
    path, _ = plan(fleet)
    code, screen = on_terminal(fleet, ["approve", str(path), "--as", "bob"], "n")
    assert code == 0, screen
    assert "by alice" in screen and "Digest sha256:" in screen
    assert "Text 1 of 4, for 1 account" in screen
    assert "rumours of a riot in Mare Street are untrue." in screen
    assert "not approved yet" in screen
    assert "Approve plan" in screen and "as bob? [y/N]" in screen
    assert "Not approved." in screen
    assert json.loads(path.read_text())["approvals"] == []
    code, screen = on_terminal(fleet, ["approve", str(path), "--as", "bob"], "y")
    assert code == 0, screen
    assert "Approved plan" in screen
    code, screen = on_terminal(fleet, ["apply", str(path), "--as", "carol"], "y")
    assert code == 0, screen
    assert "About to post plan" in screen and "Post to 4 accounts? [y/N]" in screen
    assert posted(fleet) == {account: [text] for account, text in EXPECTED.items()}
