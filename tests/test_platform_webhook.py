"""Webhooks over real HTTP against a receiver that verifies Standard Webhooks signatures: a
JSON body no text can break, the same key and id on every attempt, and each answer classified
as the spec suggests."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from metpost.platforms.webhook import render_body, signature
from tests.conftest import Outcome, run, write_project
from tests.fake_platforms.webhook_receiver import FakeWebhookReceiver, expected_signature

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
BODY = '{"channel": "hackney", "content": "{{ text }}", "meta": {"key": "{{ idempotency_key }}"}}'
TRICKY = 'Roads "closed" \\ at 6pm,\nsee {{ text }} & </script> 🚓'


@dataclass
class Hooks:
    signed: FakeWebhookReceiver  # hackney-hook: a secret and a body template
    plain: FakeWebhookReceiver  # camden-hook: neither
    config: Path
    ledger: Path
    env: dict[str, str]

    def send(self, *more: str, account: str | None = None, message: str | None = None,
             env: dict[str, str] | None = None) -> Outcome:
        chosen = ["--account", account] if account else ["--all"]
        return run(["send", "--config", str(self.config), "--ledger", str(self.ledger), *chosen,
                    "-m", message or "{{ borough }}: roads reopen at 6pm.", "--yes", "--json",
                    *more], env={**self.env, **(env or {})})

    def posts(self, outcome: Outcome) -> dict[str, dict]:
        return {p["account"]: p for p in json.loads(outcome.stdout)["posts"]}

    def key_of(self, account: str) -> str:
        return sqlite3.connect(self.ledger).execute(
            "SELECT idempotency_key FROM posts WHERE account = ?", (account,)).fetchone()[0]


def hooks_config(signed: str, plain: str) -> str:
    return f"""\
boroughs: [{{name: Hackney, bcu: CE}}, {{name: Camden, bcu: CN}}]
accounts:
  - name: hackney-hook
    platform: webhook
    borough: Hackney
    url: {signed}/hooks/hackney
    body: '{BODY}'
    deduplicates: true
    credentials: {{secret: '${{HACKNEY_HOOK_SECRET}}'}}
  - name: camden-hook
    platform: webhook
    borough: Camden
    url: {plain}/hooks/camden
"""


@pytest.fixture
def hooks(tmp_path):
    with FakeWebhookReceiver(secret=SECRET) as signed, FakeWebhookReceiver() as plain:
        config = write_project(tmp_path / "project", hooks_config(signed.url, plain.url))
        yield Hooks(signed, plain, config, tmp_path / "ledger.sqlite3",
                    {"HACKNEY_HOOK_SECRET": SECRET})


def posts_to(receiver: FakeWebhookReceiver) -> list:
    return [r for r in receiver.requests if r.method == "POST"]


# -- what goes out -------------------------------------------------------------------------------

def test_a_signed_delivery_verifies_and_carries_the_posts_key(hooks):
    outcome = hooks.send(account="hackney-hook", message="{% raw %}" + TRICKY + "{% endraw %}")
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    [delivery] = hooks.signed.deliveries
    key = hooks.key_of("hackney-hook")
    assert delivery.body == {"channel": "hackney", "content": TRICKY, "meta": {"key": key}}
    headers = delivery.headers
    assert headers["content-type"] == "application/json"
    assert headers["idempotency-key"] == key
    assert headers["webhook-id"] == f"msg_{key}"
    assert headers["webhook-signature"] == "v1," + expected_signature(
        SECRET, headers["webhook-id"], headers["webhook-timestamp"], delivery.raw)
    [post] = hooks.posts(outcome).values()
    assert (post["status"], post["remote_id"]) == ("sent", f"msg_{key}")
    assert SECRET not in outcome.stdout + outcome.stderr


def test_an_account_without_a_secret_or_body_sends_plain_json_unsigned(hooks):
    outcome = hooks.send(account="camden-hook")
    assert outcome.exit_code == 0, outcome.stdout
    [delivery] = hooks.plain.deliveries
    assert delivery.raw == b'{"text":"Camden: roads reopen at 6pm."}'
    assert "webhook-signature" not in delivery.headers
    assert delivery.headers["webhook-id"].startswith("msg_")


def test_a_rerun_sends_nothing(hooks):
    assert hooks.send().exit_code == 0
    before = len(posts_to(hooks.signed)) + len(posts_to(hooks.plain))
    rerun = hooks.send()
    assert {p["status"] for p in hooks.posts(rerun).values()} == {"already sent"}
    assert len(posts_to(hooks.signed)) + len(posts_to(hooks.plain)) == before


@pytest.mark.parametrize("fault", ["post_then_fail_500", "post_then_fail_502",
                                   "post_then_fail_503", "drop"])
def test_an_error_after_the_receiver_took_it_is_resent_only_to_a_receiver_that_deduplicates(
        hooks, fault):
    hooks.plain.dedupe = False  # camden-hook's receiver keeps every delivery, as chat rooms do
    for receiver in (hooks.signed, hooks.plain):
        if fault == "drop":
            receiver.drop_after_accept_next(1)
        else:
            receiver.post_then_fail_next(1, status=int(fault.rsplit("_", 1)[1]))
    outcome = hooks.send()
    assert outcome.exit_code == 1, outcome.stdout
    posts = hooks.posts(outcome)
    # hackney-hook says deduplicates: true: resent with the same key, taken once.
    assert posts["hackney-hook"]["status"] == "sent"
    first, resent = posts_to(hooks.signed)
    assert first.body == resent.body
    assert first.headers["webhook-id"] == resent.headers["webhook-id"]
    assert first.headers["idempotency-key"] == resent.headers["idempotency-key"]
    assert len(hooks.signed.deliveries) == 1  # the receiver knew the id the second time
    # A signature is made for each attempt, over that attempt's timestamp.
    assert resent.headers["webhook-signature"] == "v1," + expected_signature(
        SECRET, resent.headers["webhook-id"], resent.headers["webhook-timestamp"], resent.body)
    # camden-hook does not: it may have the post, and it cannot be asked, so it is not resent,
    # now or by a retry.
    assert posts["camden-hook"]["status"] == "unknown"
    assert "cannot list posts to check" in posts["camden-hook"]["error"]
    assert len(posts_to(hooks.plain)) == 1 and len(hooks.plain.deliveries) == 1
    retried = run(["retry", "last", "--config", str(hooks.config), "--ledger", str(hooks.ledger),
                   "--yes", "--json"], env=hooks.env)
    assert [p["status"] for p in json.loads(retried.stdout)["posts"]] == ["already sent", "unknown"]
    # Never asked to list what it cannot (the webhook declares no can_list_recent).
    assert "NotImplementedError" not in retried.stdout
    assert "cannot list posts to check" in json.loads(retried.stdout)["posts"][1]["error"]
    assert len(posts_to(hooks.plain)) == 1 and len(hooks.plain.deliveries) == 1
    # Each retry says so once: the recorded error does not grow with every run.
    again = run(["retry", "last", "--config", str(hooks.config), "--ledger", str(hooks.ledger),
                 "--yes", "--json"], env=hooks.env)
    error = json.loads(again.stdout)["posts"][1]["error"]
    assert error == json.loads(retried.stdout)["posts"][1]["error"]
    assert error.count("cannot list posts to check") == 1


def test_deduplicates_is_true_or_false(tmp_path):
    config = write_project(tmp_path, hooks_config("http://127.0.0.1:9", "http://127.0.0.1:9")
                           .replace("deduplicates: true", "deduplicates: 'yes please'"))
    checked = run(["check", "--config", str(config)])
    assert checked.exit_code == 2
    assert "accounts.yaml:8: accounts[0].deduplicates: must be true or false, not a string" in (
        checked.stderr)


def test_a_delivery_that_may_have_been_taken_is_never_reported_failed(hooks):
    hooks.plain.post_then_fail_next(100, status=500)
    outcome = hooks.send("--deadline", "1", account="camden-hook")
    [post] = hooks.posts(outcome).values()
    assert post["status"] == "unknown", post
    assert post["error"].startswith("the webhook answered 500: Internal Server Error")
    assert len(hooks.plain.deliveries) == 1


@pytest.mark.parametrize("status", [408, 429])
def test_a_timeout_or_rate_limit_answer_is_retried_with_the_same_key(hooks, status):
    hooks.plain.answer_next(1, status, {"error": "later"}, headers={"Retry-After": "1"})
    outcome = hooks.send(account="camden-hook")
    assert outcome.exit_code == 0, outcome.stdout
    first, second = posts_to(hooks.plain)
    assert (first.status, second.status) == (status, 200)
    assert second.received_at - first.received_at > 0.5  # Retry-After: 1 was honoured
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]


def test_a_retry_after_date_is_read_on_the_receivers_clock(hooks):
    from email.utils import formatdate

    hooks.plain.clock_offset = 3600.0  # the receiver's clock is an hour ahead of ours
    retry_at = formatdate(hooks.plain.now() + 2, usegmt=True)
    hooks.plain.answer_next(1, 429, {"error": "later"}, headers={"Retry-After": retry_at})
    outcome = hooks.send("--deadline", "20", account="camden-hook")
    assert outcome.exit_code == 0, outcome.stdout
    first, second = posts_to(hooks.plain)
    assert 0.5 < second.received_at - first.received_at < 5


@pytest.mark.parametrize("status, body, headers, error", [
    (400, {"error": "unknown channel"}, {}, "the webhook refused the post (400): unknown channel"),
    (404, b"<html>Not here</html>", {},
     "the webhook refused the post (404): <html>Not here</html>"),
    (410, {"message": "gone for good"}, {},
     "the webhook answered 410: the receiver wants no more posts: gone for good"),
    # Where it moved, as scheme and host only: the new address may carry the hook's token.
    (301, None, {"Location": "https://elsewhere.example/services/T0/B0/s3cr3t-token"},
     "the webhook answered 301, moved to https://elsewhere.example; update the account's "
     "url (redirects are not followed)"),
])
def test_other_answers_fail_at_once_in_the_receivers_words(hooks, status, body, headers, error):
    hooks.plain.answer_next(1, status, body, headers=headers,
                            content_type="text/html" if isinstance(body, bytes) else
                            "application/json")
    outcome = hooks.send(account="camden-hook")
    assert outcome.exit_code == 1
    [post] = hooks.posts(outcome).values()
    assert (post["status"], post["error"]) == ("failed", error)
    assert len(posts_to(hooks.plain)) == 1


def test_a_wrong_secret_is_refused_by_the_receiver(hooks):
    outcome = hooks.send(account="hackney-hook",
                         env={"HACKNEY_HOOK_SECRET": "whsec_" + "A" * 32})
    [post] = hooks.posts(outcome).values()
    assert (post["status"], post["error"]) == (
        "failed", "the webhook refused the request (401): invalid signature")
    assert hooks.signed.deliveries == []


@pytest.mark.parametrize("secret", ["whsec_not*base64!", "not-a-secret!!", "whsec_="])
def test_a_secret_that_is_not_base64_stops_the_broadcast_before_anything_is_sent(hooks,
                                                                                 secret):
    # Every account, not only the webhook's: found mid-broadcast, the others would be out.
    outcome = hooks.send(env={"HACKNEY_HOOK_SECRET": secret})
    assert outcome.exit_code == 2
    assert ("hackney-hook: credential HACKNEY_HOOK_SECRET: is not a Standard Webhooks secret "
            "(whsec_ and the key in base64); copy it again from the receiver") in outcome.stderr
    assert secret not in outcome.stdout + outcome.stderr
    assert posts_to(hooks.signed) == posts_to(hooks.plain) == []


def test_a_secret_given_but_not_set_stops_the_send(hooks):
    outcome = hooks.send(env={"HACKNEY_HOOK_SECRET": ""})
    assert outcome.exit_code == 2
    assert "HACKNEY_HOOK_SECRET" in outcome.stderr
    assert posts_to(hooks.signed) == posts_to(hooks.plain) == []


# -- configuration --------------------------------------------------------------------------------

@pytest.mark.parametrize("lines, problem", [
    ("    url: https://hooks.example/x\n    credentials: {token: '${T}'}\n",
     "accounts[0].credentials.token: unknown credential 'token' (known: secret, url)"),
    ("    url: https://hooks.example/x\n    body: 'not json'\n",
     "accounts[0].body: is not JSON (Expecting value: line 1 column 1 (char 0)); write a JSON "
     "document such as {\"text\": \"{{ text }}\"}"),
    # Python reads NaN and 1e999 (infinity), which no receiver takes as JSON.
    ("    url: https://hooks.example/x\n    body: '{\"t\": \"{{ text }}\", \"n\": NaN}'\n",
     "accounts[0].body: is not JSON (NaN is not a JSON value); write a JSON document such as "
     "{\"text\": \"{{ text }}\"}"),
    ("    url: https://hooks.example/x\n    body: '{\"t\": \"{{ text }}\", \"n\": 1e999}'\n",
     "accounts[0].body: is not JSON (1e999 is too large a number for JSON); write a JSON "
     "document such as {\"text\": \"{{ text }}\"}"),
    (f"    url: https://hooks.example/x\n    body: '{'[' * 2000}\"{{{{ text }}}}\"{']' * 2000}'\n",
     "accounts[0].body: is not JSON (it nests too deeply); write a JSON document such as "
     "{\"text\": \"{{ text }}\"}"),
    (f"    url: https://hooks.example/x\n    body: '{'[' * 65}\"{{{{ text }}}}\"{']' * 65}'\n",
     "accounts[0].body: nests more than 64 levels deep; write a JSON document such as "
     "{\"text\": \"{{ text }}\"}"),
    ("    url: https://hooks.example/x\n    body: '{\"t\": \"{{ txt }}\"}'\n",
     "accounts[0].body: names {{ txt }}, which a body cannot have (it can have: text, "
     "idempotency_key, account, handle)"),
    # A filter or an expression is no placeholder: it would go out as written, braces and all.
    ("    url: https://hooks.example/x\n    body: '{\"t\": \"{{ text|upper }}\"}'\n",
     "accounts[0].body: holds {{ text|upper }}, which a body cannot have: its strings take only "
     "the placeholders {{ text }}, {{ idempotency_key }}, {{ account }}, {{ handle }}, put in as "
     "they are (no filters, no expressions)"),
    ("    url: https://hooks.example/x\n    body: '{\"t\": \"{% if text %}x{% endif %}\"}'\n",
     "accounts[0].body: holds {% endif %}, {% if text %}, which a body cannot have: its strings "
     "take only the placeholders {{ text }}, {{ idempotency_key }}, {{ account }}, {{ handle }}, "
     "put in as they are (no filters, no expressions)"),
    ("    url: ftp://hooks.example/x\n",
     "accounts[0].url: 'ftp://hooks.example/x' is not an http(s) address like "
     "https://example.org/hook"),
    ("    body: '{}'\n", "accounts[0].url: missing: give url: https://… or, when the address "
     "is itself a secret, credentials: {url: '${VAR}'}"),
])
def test_account_keys_are_checked_when_the_config_loads(tmp_path, lines, problem):
    config = write_project(tmp_path, "accounts:\n  - name: w\n    platform: webhook\n" + lines)
    outcome = run(["check", "--config", str(config)])
    assert outcome.exit_code == 2
    [line] = outcome.error_lines
    assert line.endswith(problem), line


def test_an_account_needs_no_credentials(tmp_path):
    config = write_project(tmp_path, "accounts:\n  - name: w\n    platform: webhook\n"
                                     "    url: https://hooks.example/x\n")
    outcome = run(["check", "--config", str(config)])
    assert outcome.exit_code == 0, outcome.stderr


def test_no_text_can_break_out_of_its_json_string():
    body = render_body('{"a": "{{ text }}", "b": ["x {{ account }} y"], "n": 3}',
                       {"text": TRICKY, "account": '"}', "idempotency_key": "k", "handle": ""})
    assert json.loads(body) == {"a": TRICKY, "b": ['x "} y'], "n": 3}


def test_the_signature_matches_the_standard_webhooks_test_vector():
    assert signature(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                     b'{"test": 2432232314}') == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")


# -- an address that is itself a secret ---------------------------------------------------------

def secret_url_config(extra: str = "") -> str:
    return ("accounts:\n  - name: slack\n    platform: webhook\n"
            "    credentials: {url: '${SLACK_WEBHOOK_URL}'}\n" + extra)


def test_a_receiver_whose_address_is_a_secret_takes_it_from_the_environment(tmp_path):
    with FakeWebhookReceiver() as receiver:
        config = write_project(tmp_path / "project", secret_url_config())
        address = f"{receiver.url}/services/T0/B0/s3cr3t-hook-token"
        outcome = run(["send", "--config", str(config), "--ledger", str(tmp_path / "l.sqlite3"),
                       "--all", "-m", "Roads reopen at 6pm.", "--yes", "--json"],
                      env={"SLACK_WEBHOOK_URL": address})
        assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
        [delivery] = receiver.deliveries
        assert delivery.body == {"text": "Roads reopen at 6pm."}
        assert [r.path for r in receiver.requests] == ["/services/T0/B0/s3cr3t-hook-token"]
        listed = run(["accounts", "list", "--config", str(config), "--json"],
                     env={"SLACK_WEBHOOK_URL": address})
        assert "s3cr3t-hook-token" not in outcome.stdout + outcome.stderr + listed.stdout
        assert "${SLACK_WEBHOOK_URL}" not in listed.stdout  # only the variable's name
        assert "SLACK_WEBHOOK_URL" in listed.stdout


def test_a_secret_address_that_is_no_address_is_refused_before_anything_is_sent(tmp_path):
    config = write_project(tmp_path / "project", secret_url_config())
    outcome = run(["send", "--config", str(config), "--ledger", str(tmp_path / "l.sqlite3"),
                   "--all", "-m", "Roads reopen.", "--yes"],
                  env={"SLACK_WEBHOOK_URL": "ftp://hooks.example/s3cr3t-hook-token"})
    assert outcome.exit_code == 2
    assert ("slack: credential SLACK_WEBHOOK_URL: the url in the environment is not an http(s) "
            "address like https://example.org/hook") in outcome.stderr
    assert "s3cr3t" not in outcome.stderr + outcome.stdout


@pytest.mark.parametrize("extra, problem", [
    ("    url: https://hooks.example/x\n",
     "accounts[0].url: is given twice, here and in credentials; keep one (credentials when the "
     "address is itself a secret)"),
])
def test_a_receivers_address_is_given_once(tmp_path, extra, problem):
    config = write_project(tmp_path, secret_url_config(extra))
    outcome = run(["check", "--config", str(config)])
    assert outcome.exit_code == 2
    [line] = outcome.error_lines
    assert line.endswith(problem), line


def test_a_receiver_quoting_part_of_a_secret_address_gets_that_part_redacted(tmp_path):
    # A receiver's error quotes the path it was sent to, or its query, not the whole address
    # (an Express 404 says "Cannot POST /hooks/<token>"): those pieces are the secret too.
    with FakeWebhookReceiver() as receiver:
        receiver.answer_next(1, 404, {"error": "Cannot POST /hooks/T0KENSECRET123, "
                                               "query sig=QSECRETQ1"})
        config = write_project(tmp_path / "project", secret_url_config())
        log = tmp_path / "attempts.jsonl"
        ledger = tmp_path / "l.sqlite3"
        outcome = run(["send", "--config", str(config), "--ledger", str(ledger), "--all", "-m",
                       "Roads reopen.", "--yes", "--json", "--log-file", str(log)],
                      env={"SLACK_WEBHOOK_URL":
                           f"{receiver.url}/hooks/T0KENSECRET123?sig=QSECRETQ1"})
    [post] = json.loads(outcome.stdout)["posts"]
    assert post["status"] == "failed" and "[redacted]" in post["error"], post
    from tests.postgres_server import ledger_text

    everything = outcome.stdout + outcome.stderr + log.read_text() + ledger_text(str(ledger))
    assert "T0KENSECRET123" not in everything and "QSECRETQ1" not in everything


def test_a_secret_address_written_into_the_config_is_one_problem(tmp_path):
    config = write_project(tmp_path, "accounts:\n  - name: slack\n    platform: webhook\n"
                                     "    credentials: {url: 'https://hooks.example/${T}'}\n")
    outcome = run(["check", "--config", str(config)])
    assert outcome.exit_code == 2
    [line] = outcome.error_lines
    assert "accounts[0].credentials.url: secrets must not be written in the config" in line


def test_the_pieces_of_a_secret_address_that_are_hidden_on_their_own():
    from metpost.secrets import secret_url_pieces

    pieces = secret_url_pieces("https://user:pa55word-x@hooks.slack.com/services/T0A1B2C3/"
                               "B0D4E5F6/abcdefghijklmnopqrstuvwx?sig=s1gnature&v=1")
    assert set(pieces) == {
        "/services/T0A1B2C3/B0D4E5F6/abcdefghijklmnopqrstuvwx",
        "/services/T0A1B2C3/B0D4E5F6/abcdefghijklmnopqrstuvwx?sig=s1gnature&v=1",
        "sig=s1gnature&v=1", "pa55word-x", "T0A1B2C3", "B0D4E5F6",
        "abcdefghijklmnopqrstuvwx", "s1gnature"}
    assert "services" not in pieces  # a word, not a token: shown where it appears
    assert secret_url_pieces("EAAB-a-page-token") == []
