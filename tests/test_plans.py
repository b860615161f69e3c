"""Plans and approval policy without a platform: the format and its digest, reading a plan
back, telling an edited plan from the recorded one, who may approve what, and the
``approvals:`` section of accounts.yaml."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from metpost.approvals import (
    ApprovalPolicy,
    Scope,
    StandingApproval,
    judge,
    needs_approval,
    standing_approvers,
    urgent_allowed,
)
from metpost.audit import Actor, EventKind, Outcome, since_moment, urgent_first
from metpost.destinations import destination_changes, destination_record
from metpost.errors import ConfigError
from metpost.ledger import AuditEvent
from metpost.models import Account, Post, ThreadPart
from metpost.plans import (
    PlanError,
    PlanPost,
    approval_entry,
    content_digest,
    dump_plan,
    expiry,
    integrity_problems,
    parse_plan,
    plan_content,
    plan_document,
    plan_text,
    with_approval,
)


def changes_from_plan(planned: PlanPost, account: Account) -> list[str]:
    """What says where ``planned`` goes that ``account`` no longer has, as apply sees it."""
    return destination_changes(planned.platform, planned.handle, planned.destination, account)


ALICE = Actor(name="alice", os_user="alice", host="press-1")
MADE = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
HACKNEY_X = Account(name="hackney-x", platform="x", handle="@MPSHackney", borough="Hackney",
                    tags=("borough", "bcu-ce"))
CENTRAL_FB = Account(name="central-facebook", platform="facebook", tags=("central",),
                     settings={"page_id": "1003", "graph_version": "v21.0"})


def a_plan(text: str = "Hackney: roads reopen at 6pm.", **changes):
    posts = [Post(account=HACKNEY_X, text=text, length=len(text), limit=280),
             Post(account=CENTRAL_FB, text="Roads reopen at 6pm.",
                  parts=(ThreadPart("a 1/2", 5), ThreadPart("b 2/2", 5)))]
    content = plan_content(posts, plan_id="0123456789abcdef", author=ALICE, created_at=MADE,
                           expires_after=timedelta(hours=2), template="road-closure",
                           request={"selection": {"tag": ["bcu-ce"]}, "vars": {"roads": "A10"}},
                           key=None, public_safety=False)
    content.update(changes)
    return plan_document(content)


def event(kind: EventKind, outcome: Outcome, digest: str, actor: str = "alice") -> AuditEvent:
    return AuditEvent(kind=str(kind), actor=actor, os_user=actor, host="h", outcome=str(outcome),
                      plan_id="0123456789abcdef", plan_digest=digest,
                      at="2026-11-24T03:10:00+00:00")


# -- the format and its digest -------------------------------------------------------------------

def test_the_file_is_stable_readable_json():
    document = a_plan()
    text = dump_plan(document)
    assert text == dump_plan(a_plan())  # the same plan, the same bytes
    assert text.endswith("}\n") and '\n  "content": {\n' in text
    assert list(json.loads(text)["content"]) == [
        "id", "created_at", "expires_at", "author", "template", "request", "key",
        "public_safety", "posts"]
    post = json.loads(text)["content"]["posts"][1]
    # Where it goes: the page, not the Graph version it is posted with.
    assert post == {"account": "central-facebook", "platform": "facebook", "handle": None,
                    "destination": {"api_url": None, "page_id": "1003"},
                    "text": "Roads reopen at 6pm.", "parts": ["a 1/2", "b 2/2"], "images": [],
                    "repost_of": None}
    assert json.loads(text)["content"]["expires_at"] == "2026-11-24T05:00:00+00:00"


def test_the_digest_covers_the_content_only():
    document = a_plan()
    digest = document["digest"]
    assert digest == content_digest(document["content"])
    assert digest.startswith("sha256:") and len(digest) == 7 + 64
    # Approvals beside the content, key order and indentation change nothing.
    plan = parse_plan(dump_plan(document), "p.json")
    approved = with_approval(plan, approval_entry(event(EventKind.APPROVE, Outcome.APPROVED,
                                                        digest, "bob")))
    assert content_digest(approved["content"]) == digest
    reordered = json.dumps(json.loads(dump_plan(approved)), indent=7, sort_keys=True)
    assert parse_plan(reordered, "p.json").digest == digest
    # Any change to what is posted, or to its times, author or template, changes it.
    for change in ({"template": "other"}, {"expires_at": "2026-11-25T05:00:00+00:00"},
                   {"author": {"name": "bob", "os_user": "alice", "host": "press-1"}}):
        assert a_plan(**change)["digest"] != digest
    assert a_plan(text="Hackney: roads reopen at 7pm.")["digest"] != digest


def test_reading_a_plan_back():
    plan = parse_plan(dump_plan(a_plan()), "p.json")
    assert plan.id == "0123456789abcdef" and plan.short_id == "0123456789ab"
    assert plan.author == ALICE
    assert plan.created_at == MADE and plan.expires_at == MADE + timedelta(hours=2)
    assert plan.accounts == ["hackney-x", "central-facebook"]
    assert plan.posts[1].parts == ("a 1/2", "b 2/2")
    assert plan.stated_digest == plan.digest


@pytest.mark.parametrize("text, problem", [
    ("{", "p.json: not a metpost plan: invalid JSON at line 1: Expecting property name "
          "enclosed in double quotes"),
    ("[]", 'p.json: not a metpost plan (no "metpost_plan" key); make one with metpost send '
           "... --plan FILE"),
    ('{"metpost_plan": 2}', "p.json: a plan of format 2; this metpost reads format 1"),
    ('{"metpost_plan": true}', 'p.json: not a metpost plan ("metpost_plan" is not a format '
                               "number)"),
    ('{"metpost_plan": [' + "1, " * 10_000 + "1]}",
     'p.json: not a metpost plan ("metpost_plan" is not a format number)'),
])
def test_what_is_not_a_plan(text, problem):
    with pytest.raises(PlanError) as raised:
        parse_plan(text, "p.json")
    assert raised.value.problems == (problem,)


def test_text_that_is_not_unicode_is_refused_before_it_is_digested():
    text = dump_plan(a_plan()).replace("Hackney: roads", "Hackney: \\ud800 roads")
    with pytest.raises(PlanError) as raised:
        parse_plan(text, "p.json")
    assert raised.value.problems == ("p.json: not a metpost plan: it holds a \\u escape that "
                                     "is not Unicode text (a lone surrogate)",)


def test_a_byte_order_mark_before_a_plan_changes_nothing():
    """A Windows editor saves UTF-8 with a byte order mark; the digest is of the content."""
    text = dump_plan(a_plan())
    plan = parse_plan(plan_text(b"\xef\xbb\xbf" + text.encode("utf-8"), "p.json"), "p.json")
    assert plan == parse_plan(text, "p.json")
    assert plan.digest == plan.stated_digest == a_plan()["digest"]


def test_a_plan_too_large_to_read_back_is_refused_as_text_too():
    """The bound holds for what send --plan would write, not only for files read."""
    text = dump_plan(a_plan(text="é" * (4 * 1024 * 1024)))  # 4M characters, 8 MB and more
    with pytest.raises(PlanError) as raised:
        parse_plan(text, "p.json")
    assert raised.value.problems == ("p.json: not a metpost plan: larger than 8 MB",)


def test_a_misshapen_plan_names_every_field():
    document = a_plan()
    document["content"]["posts"][0]["text"] = 7
    document["content"]["posts"][1]["account"] = "hackney-x"
    del document["content"]["created_at"]
    document["content"]["colour"] = "red"
    with pytest.raises(PlanError) as raised:
        parse_plan(json.dumps(document), "p.json")
    assert set(raised.value.problems) == {
        "p.json: content.colour: not a key plans have",
        "p.json: content: missing 'created_at'",
        "p.json: content.created_at: must be a string, not empty",
        "p.json: content.posts[0].text: must be a string",
        "p.json: content.posts: account 'hackney-x' is given more than once",
    }


# -- where each post goes ----------------------------------------------------------------------

MASTODON = Account(name="hackney-mastodon", platform="mastodon",
                   handle="@mpshackney@social.example", api_url="https://social.example",
                   settings={"api_url": "https://social.example", "max_characters": "500"})
BLUESKY = Account(name="hackney-bluesky", platform="bluesky", handle="mpshackney.bsky.social",
                  api_url="https://pds.example", settings={"handle": "mpshackney.bsky.social"})
HOOK = Account(name="alerts-hook", platform="webhook",
               settings={"url": "https://hooks.example/T0KEN", "body": '{"t": "{{ text }}"}'})
FEED = Account(name="alerts-feed", platform="feed",
               settings={"path": "/srv/www/alerts.xml", "title": "Alerts"})
PLUGIN = Account(name="pager", platform="pager", api_url="https://pager.example",
                 settings={"channel": "ops", "api_url": "https://pager.example"})


def planned_for(account: Account) -> PlanPost:
    return PlanPost(account=account.name, platform=account.platform, handle=account.handle,
                    text="hi", destination=destination_record(account))


def moved(account: Account, **settings: str | None) -> Account:
    from dataclasses import replace

    fields = {key: value for key, value in settings.items() if key in ("handle", "api_url")}
    changed = {key: value for key, value in settings.items() if key not in fields}
    return replace(account, **fields, settings={**account.settings, **changed})


def test_a_plan_records_where_each_post_goes_and_only_a_digest_of_a_secret():
    import hashlib

    assert destination_record(MASTODON) == {"api_url": "https://social.example"}
    assert destination_record(BLUESKY) == {"api_url": "https://pds.example"}
    assert destination_record(HOOK) == {
        "api_url": None,
        "url": "sha256:" + hashlib.sha256(b"https://hooks.example/T0KEN").hexdigest(),
        "body": '{"t": "{{ text }}"}'}
    assert destination_record(FEED) == {"api_url": None, "path": "/srv/www/alerts.xml"}
    # A plugin's settings are all taken as where it posts, and each as a secret.
    assert destination_record(PLUGIN) == {
        "api_url": "https://pager.example",
        "channel": "sha256:" + hashlib.sha256(b"ops").hexdigest()}


PAGER_PLUGIN = """
from metpost.platforms.api import Platform, Receipt, TextLimits


class Pager(Platform):
    name = "pager"
    title = "Pager"
    account_fields = {"channel": True, "colour": False}
    destination_fields = {"channel": False}  # where it goes, and no secret; colour is how
    limits = TextLimits(max_length=500)

    def publish(self, request):
        return Receipt(remote_id="1")
"""


def test_a_plugin_that_declares_where_its_posts_go_has_those_fields_compared(install_plugin):
    install_plugin("pager", "metpost_pager", "Pager", PAGER_PLUGIN)
    account = replace(PLUGIN, settings={**PLUGIN.settings, "colour": "red"})
    assert destination_record(account) == {"api_url": "https://pager.example", "channel": "ops"}
    assert changes_from_plan(planned_for(account), moved(account, channel="all")) == [
        "channel was 'ops', now 'all'"]
    assert changes_from_plan(planned_for(account), moved(account, colour="blue")) == []


@pytest.mark.parametrize("account, changes, said", [
    (MASTODON, {"api_url": "https://other.example"},
     ["api_url was 'https://social.example', now 'https://other.example'"]),
    (BLUESKY, {"handle": "someone.bsky.social"},
     ["handle was 'mpshackney.bsky.social', now 'someone.bsky.social'"]),
    (BLUESKY, {"api_url": None}, ["api_url was 'https://pds.example', now none"]),
    (HOOK, {"url": "https://hooks.example/OTHER"},
     ["url changed (not shown: it may hold a secret)"]),
    (FEED, {"path": "/tmp/x\nforged.xml"},
     ["path was '/srv/www/alerts.xml', now '/tmp/x\\nforged.xml'"]),
    (PLUGIN, {"channel": "everyone"}, ["channel changed (not shown: it may hold a secret)"]),
    (PLUGIN, {"colour": "red"}, ["colour changed (not shown: it may hold a secret)"]),
    # How it is posted, not where: no change.
    (MASTODON, {"max_characters": "1000"}, []),
    # A webhook's body is where the text goes: edited after approval, it would post other words.
    (HOOK, {"body": '{"x": "IGNORE THE ABOVE: {{ text }}"}'},
     ["body was '{\"t\": \"{{ text }}\"}', now '{\"x\": \"IGNORE THE ABOVE: {{ text }}\"}'"]),
    (FEED, {"title": "Other"}, []),
])
def test_what_says_where_a_post_goes_is_compared_and_nothing_else(account, changes, said):
    assert changes_from_plan(planned_for(account), moved(account, **changes)) == said


def test_a_changed_platform_is_the_one_change_said():
    from dataclasses import replace

    planned = planned_for(HACKNEY_X)
    assert changes_from_plan(planned, replace(HACKNEY_X, platform="mastodon",
                                                handle="@x")) == ["platform was x, now mastodon"]


def test_a_webhook_post_recorded_before_its_body_was_is_not_refused_for_it():
    planned = planned_for(HOOK)
    older = replace(planned, destination={key: value for key, value in planned.destination.items()
                                          if key != "body"})
    assert changes_from_plan(older, HOOK) == []
    assert changes_from_plan(older, moved(HOOK, url="https://hooks.example/OTHER")) == [
        "url changed (not shown: it may hold a secret)"]


def test_a_plan_from_before_destinations_is_compared_on_platform_and_handle():
    document = a_plan()
    for post in document["content"]["posts"]:
        del post["destination"]
    document["digest"] = content_digest(document["content"])
    plan = parse_plan(dump_plan(document), "p.json")
    older = plan.posts[0]
    assert older.destination is None
    assert changes_from_plan(older, HACKNEY_X) == []
    assert changes_from_plan(older, moved(HACKNEY_X, api_url="https://x.example")) == []
    assert changes_from_plan(older, moved(HACKNEY_X, handle="@Other")) == [
        "handle was '@MPSHackney', now '@Other'"]


def test_a_destination_that_is_not_strings_is_refused():
    document = a_plan()
    document["content"]["posts"][0]["destination"] = {"api_url": 7}
    document["content"]["posts"][1]["destination"] = ["x"]
    with pytest.raises(PlanError) as raised:
        parse_plan(json.dumps(document), "p.json")
    assert set(raised.value.problems) == {
        "p.json: content.posts[0].destination.api_url: must be a string or null",
        "p.json: content.posts[1].destination: must be a JSON object"}


# -- telling an edited plan from the recorded one ------------------------------------------------

def test_integrity_against_what_the_ledger_recorded():
    plan = parse_plan(dump_plan(a_plan()), "p.json")
    made = event(EventKind.PLAN, Outcome.PLANNED, plan.digest)
    assert integrity_problems(plan, [made], "p.json", "ledger.db") == []
    [unknown] = integrity_problems(plan, [], "p.json", "ledger.db")
    assert unknown.startswith("p.json: plan 0123456789ab is not recorded in ledger.db")
    edited = parse_plan(dump_plan(a_plan(text="Hackney: all clear.")), "p.json")
    [problem] = integrity_problems(edited, [made], "p.json", "ledger.db")
    assert problem.startswith(f"p.json was edited after it was made: its content's digest is "
                              f"now {edited.digest}, but plan 0123456789ab was made as "
                              f"{plan.digest}")
    approved = event(EventKind.APPROVE, Outcome.APPROVED, plan.digest, "bob")
    [problem] = integrity_problems(edited, [made, approved], "p.json", "ledger.db")
    assert problem.startswith("p.json was edited after it was approved")


def test_expiry_is_the_written_one_or_sooner_if_the_config_now_says_so():
    plan = parse_plan(dump_plan(a_plan()), "p.json")
    assert expiry(plan, timedelta(hours=24)) == MADE + timedelta(hours=2)
    assert expiry(plan, timedelta(minutes=30)) == MADE + timedelta(minutes=30)


# -- who may approve what ------------------------------------------------------------------------

REVIEWED = ApprovalPolicy(required=(Scope(),), two_person=True)


def test_scopes_match_every_key_given_and_any_name_of_a_key():
    scope = Scope(tags=("central", "bcu-ce"), platforms=("x",))
    assert scope.covers(HACKNEY_X, "road-closure")
    assert not scope.covers(CENTRAL_FB, "road-closure")  # central, but not on x
    assert Scope(templates=("appeal",)).covers(HACKNEY_X, "appeal")
    assert not Scope(templates=("appeal",)).covers(HACKNEY_X, "road-closure")
    assert Scope(boroughs=("Hackney",), accounts=("hackney-x",)).covers(HACKNEY_X, "t")
    assert Scope().covers(CENTRAL_FB, "anything")
    assert scope.describe() == "tag central, bcu-ce; platform x"


def test_approval_is_needed_where_any_post_is_in_a_required_scope():
    policy = ApprovalPolicy(required=(Scope(tags=("central",)),))
    assert needs_approval(policy, [HACKNEY_X, CENTRAL_FB], "t")
    assert not needs_approval(policy, [HACKNEY_X], "t")
    assert not needs_approval(ApprovalPolicy(), [HACKNEY_X], "t")


def test_two_person_does_not_count_the_author():
    verdict = judge(REVIEWED, author="alice", approvers=["Alice"], accounts=[HACKNEY_X],
                    template="t", plan="p1")
    assert not verdict.approved
    assert verdict.problems == (
        "plan p1 is approved only by its author, alice, and accounts.yaml requires a second "
        "person (approvals.two_person): have someone other than its author run metpost "
        "approve on it, then apply it again",)
    assert judge(REVIEWED, author="alice", approvers=["alice", "bob"], accounts=[HACKNEY_X],
                 template="t", plan="p1").approvers == ("bob",)
    one_person = ApprovalPolicy(required=(Scope(),))
    assert judge(one_person, author="alice", approvers=["alice"], accounts=[HACKNEY_X],
                 template="t", plan="p1").approved


def test_how_many_approvers():
    policy = ApprovalPolicy(required=(Scope(),), approvers=2)
    verdict = judge(policy, author="alice", approvers=["bob", "BOB"], accounts=[HACKNEY_X],
                    template="t", plan="p1")
    assert not verdict.approved
    assert "plan p1 has 1 of the 2 approvals it needs (accounts.yaml: approvals.approvers; by " \
           "bob)" in verdict.problems[0]
    assert judge(policy, author="alice", approvers=["bob", "dora"], accounts=[HACKNEY_X],
                 template="t", plan="p1").approved


def test_a_standing_approval_covers_only_broadcasts_wholly_in_its_scope():
    policy = ApprovalPolicy(required=(Scope(),), two_person=True, standing=(
        StandingApproval(Scope(templates=("rumour-control",)), "inspector-on-call"),
        StandingApproval(Scope(tags=("central",)), "press-chief")))
    assert standing_approvers(policy, [HACKNEY_X, CENTRAL_FB], "rumour-control") == [
        "inspector-on-call"]
    assert standing_approvers(policy, [HACKNEY_X, CENTRAL_FB], "appeal") == []
    assert standing_approvers(policy, [CENTRAL_FB], "appeal") == ["press-chief"]
    verdict = judge(policy, author="pc-patel", approvers=[], accounts=[HACKNEY_X],
                    template="rumour-control")
    assert verdict.approved and verdict.standing == ("inspector-on-call",)
    # Not for the one who gave it, under two_person.
    assert not judge(policy, author="Inspector-on-call", approvers=[], accounts=[HACKNEY_X],
                     template="rumour-control").approved
    # Without a plan, the refusal says how to get one approved.
    refused = judge(policy, author="pc-patel", approvers=[], accounts=[HACKNEY_X],
                    template="appeal")
    assert refused.problems == (
        "this broadcast needs approval (accounts.yaml: approvals.required): plan it with "
        "--plan FILE, have it approved with metpost approve FILE, then post it with metpost "
        "apply FILE",)


def test_urgent_is_allowed_only_where_every_post_is_in_its_scope():
    policy = ApprovalPolicy(required=(Scope(),), urgent=(Scope(tags=("borough",)),))
    assert urgent_allowed(policy, [HACKNEY_X], "t")
    assert not urgent_allowed(policy, [HACKNEY_X, CENTRAL_FB], "t")
    assert not urgent_allowed(ApprovalPolicy(required=(Scope(),)), [HACKNEY_X], "t")
    assert urgent_allowed(ApprovalPolicy(urgent=(Scope(),)), [CENTRAL_FB], "t")


def test_urgent_events_come_first_and_since_reads_dates_and_times():
    plain = event(EventKind.SEND, Outcome.DONE, "")
    urgent = AuditEvent(kind="send", actor="a", os_user="a", host="h", outcome="done",
                        urgent=True)
    assert urgent_first([plain, urgent, plain]) == [urgent, plain, plain]
    assert since_moment("2026-11-24T14:30:00+01:00") == "2026-11-24T13:30:00+00:00"
    assert since_moment("2026-11-24").endswith("+00:00")


# -- approvals: in accounts.yaml -----------------------------------------------------------------

CONFIG = """\
    boroughs:
      - {name: Hackney, bcu: CE}
    accounts:
      - name: hackney-x
        platform: x
        borough: Hackney
        tags: [borough]
        credentials: {consumer_key: '${A}', consumer_secret: '${B}', access_token: '${C}',
                      access_token_secret: '${D}'}
"""


def load(project, approvals: str):
    from metpost.config import load_config

    path = project(CONFIG + approvals, {"rumour-control.j2": "Hi"})
    return path, load_config(path)


def test_the_section_as_the_readme_shows_it(project):
    _, config = load(project, """\
    approvals:
      required: true
      two_person: true
      expires_after: 2h
      approvers: 1
      standing:
        - {template: rumour-control, by: inspector-on-call}
      urgent: {allowed: {tag: borough}}
    """)
    policy = config.approvals
    assert policy.required == (Scope(),) and policy.two_person
    assert policy.expires_after == timedelta(hours=2)
    assert policy.standing == (StandingApproval(Scope(templates=("rumour-control",)),
                                                "inspector-on-call"),)
    assert policy.urgent == (Scope(tags=("borough",)),)


def test_required_by_scope_or_a_list_of_scopes(project):
    _, config = load(project, """\
    approvals:
      required: [{tag: borough, platform: x}, {template: "--message"}]
    """)
    assert config.approvals.required == (Scope(tags=("borough",), platforms=("x",)),
                                         Scope(templates=("--message",)))


def test_no_section_needs_no_approval(project):
    _, config = load(project, "")
    assert config.approvals == ApprovalPolicy()
    assert not config.approvals.configured


def test_every_mistake_is_a_line_with_its_place_and_the_closest_name(project):
    with pytest.raises(ConfigError) as raised:
        load(project, """\
    approvals:
      required: {tag: burough, template: rumour-contrl}
      two_persn: true
      approvers: 0
      expires_after: soon
      standing:
        - {template: rumour-control}
        - {by: someone}
      urgent: {allowd: true}
    """)
    path = raised.value.problems[0].split(":")[0]
    assert list(raised.value.problems) == [
        f"{path}:12: approvals.two_persn: unknown key 'two_persn' — did you mean 'two_person'?",
        f"{path}:11: approvals.required.template: unknown template 'rumour-contrl' — did you "
        "mean 'rumour-control'? (known: rumour-control, --message)",
        f"{path}:11: approvals.required.tag: unknown tag 'burough' — did you mean 'borough'?",
        f"{path}:13: approvals.approvers: must be a whole number of people, 1 or more",
        f"{path}:14: approvals.expires_after: 'soon' is not a duration like 30m, 2h, 1h30m or "
        "90s",
        f"{path}:16: approvals.standing[0]: missing required key 'by' (who approves these in "
        "advance, e.g. by: inspector-on-call)",
        f"{path}:17: approvals.standing[1]: names no posts: give template, tag, platform, "
        "account, borough or personality",
        f"{path}:18: approvals.urgent.allowd: unknown key 'allowd' — did you mean 'allowed'?",
        f"{path}:18: approvals.urgent: missing required key 'allowed'",
    ]
