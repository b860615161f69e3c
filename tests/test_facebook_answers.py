"""What metpost makes of Graph answers that facebook-sdk cannot read, and of Graph's app-wide
request limit (code 4): through ``metpost send`` and ``metpost retry``, over real HTTP to the
fake Graph server (or a small proxy in front of it), with the real facebook-sdk.

- An answer to the feed POST that cannot be read says nothing of what Graph did: the post may
  exist, so it is looked for on the page, never recorded as refused and never sent twice.
- Code 4 is counted over a rolling hour and Meta says to stop calling: one page's refusal holds
  every page of the app for the run, each post fails at once, and ``metpost retry`` sends them
  once the limit is gone.
- Code 100/33 to a DELETE is Graph's "does not exist" and its "you may not see it" alike: the
  post is retracted only once a token that sees its page (``GET /me``) cannot load it either.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import run, write_project
from tests.fake_platforms import FakeGraph
from tests.fake_platforms.server import Fault, Reply

JSON_TYPE = "application/json; charset=UTF-8"
HTML_PAGE = b"<html><body><h1>200 OK</h1><p>Served by the edge cache.</p></body></html>"
MESSAGE = ["--message", "Roads reopen at 6pm.", "--yes", "--json"]
APP_LIMIT = ("Facebook's app-wide request limit is reached (#4); Meta computes it over an hour: "
             "metpost retry later")


def feed_posts(graph: FakeGraph) -> list[str]:
    """The paths of the feed POSTs the fake received, in order."""
    return [r.path for r in graph.requests if r.method == "POST" and r.path.endswith("/feed")]


def posts_of(outcome) -> list[dict]:
    return json.loads(outcome.stdout)["posts"]


def log_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def stored_then(answer: Reply) -> Fault:
    """The post is stored, then ``answer`` goes back instead of Graph's ``{"id": ...}``."""
    return Fault("unreadable", process=True, answer=lambda _request: answer)


# -- an answer that cannot be read -------------------------------------------------------------

class ContentTypeStripper:
    """A proxy on 127.0.0.1 in front of the fake that passes everything on, except that the
    answer to a feed POST loses its Content-Type header (the fake always sends one)."""

    def __init__(self, upstream: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {name: value for name, value in self.headers.items()
                           if name.lower() in ("content-type", "authorization")}
                request = urllib.request.Request(upstream + self.path, data=body,
                                                 headers=headers, method=self.command)
                try:
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        status, payload, kind = answer.status, answer.read(), answer.headers
                except urllib.error.HTTPError as error:
                    status, payload, kind = error.code, error.read(), error.headers
                self.send_response(status)
                if not (self.command == "POST" and self.path.split("?")[0].endswith("/feed")):
                    self.send_header("Content-Type", kind.get("Content-Type", ""))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = forward

            def log_message(self, format: str, *args: object) -> None:
                """No access log."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stripper(fleet) -> Iterator[ContentTypeStripper]:
    """The fleet's Facebook pages reached through a proxy that strips Content-Type from feed
    answers."""
    proxy = ContentTypeStripper(fleet.graph.url)
    config = fleet.config.read_text(encoding="utf-8")
    fleet.config.write_text(config.replace(f"api_url: {fleet.graph.url}",
                                           f"api_url: {proxy.url}"), encoding="utf-8")
    yield proxy
    proxy.close()


UNREADABLE = {
    "html": (Reply(200, HTML_PAGE, content_type="text/html; charset=utf-8"),
             "Facebook answered 200 with a body that is not JSON (text/html)"),
    "json-label-on-html": (Reply(200, HTML_PAGE, content_type=JSON_TYPE),
                           "Facebook answered 200 with a body that is not JSON "
                           "(application/json)"),
    "empty": (Reply(200, b"", content_type=JSON_TYPE),
              "Facebook answered 200 with an empty body (application/json)"),
    "html-from-a-gateway": (Reply(502, HTML_PAGE, content_type="text/html"),
                            "Facebook answered 502 with a body that is not JSON (text/html)"),
}


def sent_once_after_looking(fleet, tmp_path, maybe_posted: str):
    """Send Hackney's post; it must end sent as the one post on the page, after a request
    logged as maybe-posted with these words. The attempt log's path."""
    log = tmp_path / "attempts.jsonl"
    outcome = fleet.run(["send", "--account", "hackney-facebook", *MESSAGE,
                         "--log-file", str(log)])
    assert outcome.exit_code == 0, outcome.stdout
    [live] = fleet.graph.live_posts("1001")
    [post] = posts_of(outcome)
    assert (post["status"], post["remote_id"]) == ("sent", live.id)
    assert feed_posts(fleet.graph) == ["/v24.0/1001/feed"]
    [maybe] = [line for line in log_lines(log) if line.get("outcome") == "maybe-posted"]
    assert maybe["error"] == maybe_posted
    return log


@pytest.mark.parametrize("kind", sorted(UNREADABLE))
def test_an_unreadable_answer_to_the_post_is_looked_for_not_sent_again(fleet, kind, tmp_path):
    answer, words = UNREADABLE[kind]
    fleet.graph.queue_fault(1, stored_then(answer))
    log = sent_once_after_looking(fleet, tmp_path, f"{words}; the post may have gone out")
    assert [line["outcome"] for line in log_lines(log)][-2:] == ["maybe-posted",
                                                                 "reconciled-found"]
    retried = fleet.run(["retry", "last", "--yes", "--json"])
    assert retried.exit_code == 0, retried.stdout
    assert feed_posts(fleet.graph) == ["/v24.0/1001/feed"]


def test_an_answer_with_no_content_type_is_looked_for_not_sent_again(fleet, stripper,
                                                                      tmp_path):
    # The body is Graph's {"id": ...}, but unlabelled facebook-sdk will not read it.
    sent_once_after_looking(fleet, tmp_path, "Facebook answered 200 with a body not labelled "
                            "as JSON (no Content-Type); the post may have gone out")


def test_when_the_page_cannot_be_read_either_the_post_is_unknown_and_retry_finds_it(fleet):
    fleet.graph.queue_fault(1, stored_then(Reply(200, HTML_PAGE, content_type="text/html")))
    # The listing that would find it is answered with the same page.
    fleet.graph.queue_fault(20, Fault("unreadable-list", methods=frozenset({"GET"}),
                                      answer=lambda _r: Reply(200, HTML_PAGE,
                                                              content_type="text/html")))
    outcome = fleet.run(["send", "--account", "hackney-facebook", *MESSAGE])
    assert outcome.exit_code == 1, outcome.stdout
    [post] = posts_of(outcome)
    assert post["status"] == "unknown"
    assert post["error"].startswith(
        "Facebook answered 200 with a body that is not JSON (text/html); the post may have "
        "gone out")
    assert "could not check: Facebook answered 200 with a body that is not JSON (text/html)" \
        in post["error"]
    assert "Maintype" not in outcome.stdout + outcome.stderr
    fleet.graph.clear_faults()
    retried = fleet.run(["retry", "last", "--yes", "--json"])
    assert retried.exit_code == 0, retried.stdout
    [live] = fleet.graph.live_posts("1001")
    [post] = posts_of(retried)
    assert (post["status"], post["remote_id"]) == ("already sent", live.id)  # found, not sent
    assert feed_posts(fleet.graph) == ["/v24.0/1001/feed"]


def test_a_listing_too_short_to_reach_the_post_leaves_it_unknown_never_sent_again(fleet):
    import time

    from tests.fake_platforms.graph_api import PagePost, _post_numbers

    fleet.graph.post_then_fail_next(1)  # made, answered 500, and the page cannot be read
    fleet.graph.queue_fault(20, Fault("listing down", methods=frozenset({"GET"}),
                                      answer=lambda _r: fleet.graph.error_reply(503)))
    outcome = fleet.run(["send", "--account", "hackney-facebook", *MESSAGE, "--deadline", "3"])
    assert [p["status"] for p in posts_of(outcome)] == ["unknown"]
    fleet.graph.clear_faults()
    # Before the retry, staff post a hundred other items on the page.
    with fleet.graph._lock:
        fleet.graph.posts.extend(PagePost(f"1001_{next(_post_numbers)}", "1001", f"Item {n}",
                                          time.time()) for n in range(100))
    retried = fleet.run(["retry", "last", "--yes", "--json"])
    assert retried.exit_code == 1
    [post] = posts_of(retried)
    assert post["status"] == "unknown"
    assert post["error"].endswith("could not check: the account has made more than 100 posts "
                                  "since then, more than one listing shows; look for it on the "
                                  "account")
    assert [p.message for p in fleet.graph.live_posts("1001")].count("Roads reopen at 6pm.") == 1


# -- the app's request limit (code 4) ----------------------------------------------------------

PAGES = ("2001", "2002", "2003", "2004", "2005")


@pytest.fixture
def pages(tmp_path: Path) -> Iterator[tuple[FakeGraph, Path, dict[str, str]]]:
    """Five Facebook pages of one app on a fake Graph: the fake, accounts.yaml, the env."""
    with FakeGraph() as graph:
        env: dict[str, str] = {}
        lines = ["accounts:"]
        for page in PAGES:
            token = f"page-{page}-token-s3cr3t"
            graph.add_page(page, f"Page {page}", token)
            env[f"FB_{page}"] = token
            lines += [f"  - name: page-{page}", "    platform: facebook",
                      f"    page_id: '{page}'", f"    api_url: {graph.url}",
                      f"    credentials: {{page_access_token: '${{FB_{page}}}'}}"]
        config = write_project(tmp_path / "app", "\n".join(lines) + "\n")
        yield graph, config, env


def send_to_pages(pages, command: str = "send", *extra: str):
    """``metpost send --all`` (or ``retry last``) to the five pages."""
    _, config, env = pages
    ledger = str(config.parent / "ledger.sqlite3")
    rest = [*MESSAGE, "--all"] if command == "send" else ["last", "--yes", "--json"]
    return run([command, "--config", str(config), "--ledger", ledger, *rest, *extra], env=env)


def test_the_app_request_limit_holds_every_page_after_one_request(pages):
    graph = pages[0]
    graph.rate_limit_next(100, code=4)  # X-App-Usage, which names no time
    started = time.monotonic()
    outcome = send_to_pages(pages, "send", "--concurrency", "1", "--deadline", "30")
    assert time.monotonic() - started < 10  # no backing off towards the deadline
    assert outcome.exit_code == 1, outcome.stdout
    assert len(feed_posts(graph)) == 1
    assert [(p["status"], p["error"]) for p in posts_of(outcome)] == [
        ("failed", APP_LIMIT)] * len(PAGES)
    # Once the limit is gone, a retry sends them all.
    graph.clear_faults()
    retried = send_to_pages(pages, "retry")
    assert retried.exit_code == 0, retried.stdout
    assert {p["status"] for p in posts_of(retried)} == {"sent"}
    assert [len(graph.live_posts(page)) for page in PAGES] == [1] * len(PAGES)


def test_pages_in_flight_together_send_no_second_request_after_the_app_limit(pages):
    graph = pages[0]
    graph.rate_limit_next(100, code=4)
    outcome = send_to_pages(pages, "send", "--deadline", "30")
    assert outcome.exit_code == 1, outcome.stdout
    sent = feed_posts(graph)
    assert 1 <= len(sent) <= len(PAGES) and len(set(sent)) == len(sent)  # none twice
    assert {(p["status"], p["error"]) for p in posts_of(outcome)} == {("failed", APP_LIMIT)}


def app_limit_lifting_in(minutes: int) -> Fault:
    """Code 4 with a business-use-case header that says when access comes back."""
    usage = {"call_count": 100, "total_cputime": 20, "total_time": 30}
    headers = {"X-App-Usage": json.dumps(usage), "X-Business-Use-Case-Usage": json.dumps(
        {"2001": [{"type": "pages", **usage, "estimated_time_to_regain_access": minutes}]})}
    body = {"error": {"message": "(#4) Application request limit reached",
                      "type": "OAuthException", "code": 4, "fbtrace_id": "AbC"}}
    return Fault("app-limit", answer=lambda _r: Reply(400, body, headers=headers,
                                                      content_type=JSON_TYPE))


def test_the_app_request_limit_is_held_until_graph_says_it_lifts(pages):
    graph = pages[0]
    graph.queue_fault(100, app_limit_lifting_in(7))
    before = time.time()
    outcome = send_to_pages(pages, "send", "--concurrency", "1")
    assert outcome.exit_code == 1, outcome.stdout
    assert len(feed_posts(graph)) == 1
    errors = {p["error"] for p in posts_of(outcome)}
    assert len(errors) == 1
    [error] = errors
    prefix = ("Facebook's app-wide request limit is reached (#4); metpost retry once Facebook "
              "lifts it, until ")
    assert error.startswith(prefix), error
    shown = error.removeprefix(prefix)
    expected = {datetime.fromtimestamp(before + 7 * 60 + delta, UTC).astimezone()
                .strftime("%H:%M:%S") for delta in range(0, 4)}
    assert shown in expected


def test_a_page_blocked_for_its_policies_is_told_so_not_that_the_post_is_invalid(pages):
    from tests.fake_platforms.graph_api import _error

    graph = pages[0]
    graph.queue_fault(1, Fault("policy-block", answer=lambda _: _error(
        "It looks like you were misusing this feature by going too fast.", "OAuthException",
        368, subcode=1390008)))
    outcome = send_to_pages(pages)
    document = json.loads(outcome.stdout)
    [blocked] = [p for p in document["posts"] if p["status"] == "failed"]
    assert blocked["error"].startswith("Facebook has blocked the page from posting for a "
                                       "while, for its policies: It looks like you were")
    assert "the post itself may be fine: metpost retry later" in blocked["error"]
    assert "change the text" not in outcome.stdout + outcome.stderr


def test_a_page_that_is_not_the_tokens_is_a_destination_to_check(tmp_path):
    with FakeGraph() as graph:
        graph.add_page("1001", "Page 1001", "page-1001-token-s3cr3t")
        config = write_project(tmp_path / "app", f"""\
accounts:
  - name: hackney-facebook
    platform: facebook
    page_id: '1009'
    api_url: {graph.url}
    credentials: {{page_access_token: '${{FB_TOKEN}}'}}
""")
        outcome = run(["send", "--config", str(config), "--ledger", str(tmp_path / "l.db"),
                       *MESSAGE, "--all"], env={"FB_TOKEN": "page-1001-token-s3cr3t"})
    [post] = json.loads(outcome.stdout)["posts"]
    assert post["status"] == "failed"
    assert post["error"].startswith("Facebook cannot find page 1009, or its token cannot post "
                                    "to it: Unsupported post request.")
    assert ("hackney-facebook: check where the account posts (a Facebook page_id, and that its "
            "token is that page's), then: metpost retry") in outcome.stdout + outcome.stderr


# -- retract: a post is gone only when a token that sees its page says so ------------------------

CAMDEN_POST = ["send", "--account", "camden-facebook", "--message", "Camden: roads reopen.",
               "--yes", "--json"]

GRAPH_100_33 = ("Facebook refused the request: Unsupported {verb} request. Object with ID "
                "'{id}' does not exist, cannot be loaded due to missing permissions, or does not "
                "support this operation. Please read the Graph API documentation at "
                "https://developers.facebook.com/docs/graph-api (code 100)")


def retracted_as(outcome) -> dict[str, str]:
    return {post["account"]: post["status"] for post in posts_of(outcome)}


def test_a_page_post_the_token_cannot_see_is_not_counted_retracted(fleet):
    assert fleet.run(CAMDEN_POST).exit_code == 0
    [post] = fleet.graph.live_posts("1002")
    # The page's token was replaced by another page's (page_id unchanged, so its destination
    # is as recorded): Graph answers 100/33 to the DELETE and to the lookup alike.
    fleet.graph.add_page("1009", "Somewhere else", "page-1009-token")
    outcome = fleet.run(["retract", "last", "--yes", "--json"],
                        env={"CAMDEN_FB_TOKEN": "page-1009-token"})
    assert outcome.exit_code == 1
    [result] = json.loads(outcome.stdout)["posts"]
    assert result["status"] == "failed"
    graph_said = GRAPH_100_33.format(verb="delete", id=post.id)
    assert result["error"] == (
        f"not deleted: Facebook answered that post {post.id} does not exist, which Graph also "
        f"answers for a post the token may not see ({graph_said}), and the token is page "
        "1009's, not page 1002's, so it may still be on the page: give camden-facebook the "
        "token of page 1002 (metpost accounts verify --account camden-facebook says whose it "
        "is), then retract again")
    assert fleet.graph.live_posts("1002") == [post]
    assert fleet.ledger_rows("SELECT state FROM posts") == [("sent",)]
    broadcast = json.loads(outcome.stdout)["broadcast"]
    assert fleet.run(["history"]).stdout.splitlines()[2:] == [
        f"Retract unfinished: {broadcast} (1 sent)", f"  to finish it: metpost retract {broadcast}"]
    finished = fleet.run(["retract", "last", "--yes", "--json"])  # with the page's own token
    assert finished.exit_code == 0 and retracted_as(finished) == {"camden-facebook": "retracted"}
    assert fleet.graph.live_posts() == []


def me_answers(fleet, reply: Reply, times: int = 1) -> None:
    """The next ``times`` GET /me (whose page is this token?) answer ``reply``."""
    fleet.graph.queue_fault(times, Fault("me", answer=lambda _request: reply,
                                         methods=frozenset({"GET"}),
                                         paths=frozenset({"/v24.0/me"})))


def test_a_page_post_is_not_counted_gone_when_graph_will_not_say_whose_the_token_is(fleet):
    assert fleet.run(CAMDEN_POST).exit_code == 0
    [post] = fleet.graph.live_posts("1002")
    post.deleted = True  # deleted by hand: the DELETE and the lookup answer 100/33
    expired = {"message": "Error validating access token: Session has expired.",
               "type": "OAuthException", "code": 190}
    me_answers(fleet, Reply(400, {"error": expired}, content_type="application/json"))
    outcome = fleet.run(["retract", "last", "--yes", "--json"])
    assert outcome.exit_code == 1
    [result] = json.loads(outcome.stdout)["posts"]
    assert result["status"] == "failed"
    assert ("and Graph would not say whose the token is: Facebook refused the page token: "
            "Error validating access token: Session has expired. (code 190), so it may still "
            "be on the page") in result["error"]
    # A server error is tried again, as any delete that may work later is.
    me_answers(fleet, fleet.graph.error_reply(500))
    again = fleet.run(["retract", "last", "--yes", "--json"])
    assert again.exit_code == 0 and retracted_as(again) == {"camden-facebook": "retracted"}
    assert [r.path for r in fleet.graph.requests if r.method == "GET"][-4:] == [
        f"/v24.0/{post.id}", "/v24.0/me", f"/v24.0/{post.id}", "/v24.0/me"]
