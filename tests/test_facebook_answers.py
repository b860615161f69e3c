"""What metpost makes of Graph answers that facebook-sdk cannot read: through ``metpost send``
and ``metpost retry``, over real HTTP to the fake Graph server (or a small proxy in front of
it), with the real facebook-sdk.

- An answer to the feed POST that cannot be read says nothing of what Graph did: the post may
  exist, so it is looked for on the page, never recorded as refused and never sent twice.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.fake_platforms import FakeGraph
from tests.fake_platforms.server import Fault, Reply

JSON_TYPE = "application/json; charset=UTF-8"
HTML_PAGE = b"<html><body><h1>200 OK</h1><p>Served by the edge cache.</p></body></html>"
MESSAGE = ["--message", "Roads reopen at 6pm.", "--yes", "--json"]


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


@pytest.mark.parametrize("kind", sorted(UNREADABLE))
def test_an_unreadable_answer_to_the_post_is_looked_for_not_sent_again(fleet, kind, tmp_path):
    answer, words = UNREADABLE[kind]
    fleet.graph.queue_fault(1, stored_then(answer))
    log = tmp_path / "attempts.jsonl"
    outcome = fleet.run(["send", "--account", "hackney-facebook", *MESSAGE,
                         "--log-file", str(log)])
    assert outcome.exit_code == 0, outcome.stdout
    [live] = fleet.graph.live_posts("1001")
    [post] = posts_of(outcome)
    assert (post["status"], post["remote_id"]) == ("sent", live.id)
    assert feed_posts(fleet.graph) == ["/v24.0/1001/feed"]
    [maybe] = [line for line in log_lines(log) if line.get("outcome") == "maybe-posted"]
    assert maybe["error"] == f"{words}; the post may have gone out"
    assert [line["outcome"] for line in log_lines(log)][-2:] == ["maybe-posted",
                                                                 "reconciled-found"]
    retried = fleet.run(["retry", "last", "--yes", "--json"])
    assert retried.exit_code == 0, retried.stdout
    assert feed_posts(fleet.graph) == ["/v24.0/1001/feed"]


def test_an_answer_with_no_content_type_is_looked_for_not_sent_again(fleet, stripper,
                                                                      tmp_path):
    log = tmp_path / "attempts.jsonl"
    outcome = fleet.run(["send", "--account", "hackney-facebook", *MESSAGE,
                         "--log-file", str(log)])
    assert outcome.exit_code == 0, outcome.stdout
    [live] = fleet.graph.live_posts("1001")
    [post] = posts_of(outcome)
    assert (post["status"], post["remote_id"]) == ("sent", live.id)
    assert feed_posts(fleet.graph) == ["/v24.0/1001/feed"]
    [maybe] = [line for line in log_lines(log) if line.get("outcome") == "maybe-posted"]
    # The body is Graph's {"id": ...}, but unlabelled facebook-sdk will not read it.
    assert maybe["error"] == ("Facebook answered 200 with a body not labelled as JSON "
                              "(no Content-Type); the post may have gone out")


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
