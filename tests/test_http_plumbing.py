"""The HTTP plumbing under tweepy, facebook-sdk and Mastodon.py: requests go to the account's
api_url, with timeouts, no retries of their own, no redirects followed, a bound on the time an
answer's body takes, and the environment's proxy settings read once per client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from metpost.platforms.api import Destination, PostRequest, PublishError, Timeouts
from metpost.platforms.http import routed_session
from tests.conftest import write_project

ORIGIN = "https://api.twitter.com"


@pytest.mark.parametrize("no_proxy, expected", [
    ("", "http://proxy.example:3128"),
    ("api.twitter.com", None),
    (".twitter.com,localhost", None),
])
def test_the_environments_proxy_is_honoured_as_requests_would(monkeypatch, no_proxy, expected):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    session = routed_session(requests.Session(), ORIGIN, None, Timeouts())
    assert session.proxies.get("https") == expected
    # Read once: later changes to the environment do not reach a client already made.
    monkeypatch.setenv("HTTPS_PROXY", "http://elsewhere.example:1")
    assert session.merge_environment_settings(f"{ORIGIN}/2/tweets", {}, None, None, None)[
        "proxies"].get("https") == expected


def test_a_ca_bundle_from_the_environment_is_kept(monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    session = routed_session(requests.Session(), ORIGIN, None, Timeouts())
    assert session.verify == str(bundle)


def test_requests_never_retry_by_themselves():
    session = routed_session(requests.Session(), ORIGIN, "http://127.0.0.1:9", Timeouts())
    assert session.get_adapter(f"{ORIGIN}/2/tweets").max_retries.total == 0


def test_a_client_made_after_the_environment_changes_sees_the_change(monkeypatch):
    # The settings are worked out once per environment, not once per process.
    monkeypatch.setenv("HTTPS_PROXY", "http://first.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    first = routed_session(requests.Session(), ORIGIN, None, Timeouts())
    monkeypatch.setenv("HTTPS_PROXY", "http://second.example:3128")
    second = routed_session(requests.Session(), ORIGIN, None, Timeouts())
    assert first.proxies.get("https") == "http://first.example:3128"
    assert second.proxies.get("https") == "http://second.example:3128"


def test_a_url_that_cannot_be_used_is_told_apart_from_one_that_can():
    from metpost.platforms.http import url_problem

    for good in ("http://127.0.0.1:8080", "https://[::1]:8443/v2/", "https://api.example/x/",
                 "http://host:"):
        assert url_problem(good) is None, good
    assert url_problem("http://:8080") == "names no host"
    assert url_problem("http://[::1:8080").startswith("has a host that cannot be read")
    for port in ("0", "65536", "eighty"):
        assert url_problem(f"http://host:{port}") == (
            "has a port that is not a number from 1 to 65535")
    for appended_to in ("http://host/api?key=1", "http://host/#top", "http://host/?"):
        assert url_problem(appended_to).startswith("has a ? query or # fragment")
        assert url_problem(appended_to, base=False) is None


# -- real servers on 127.0.0.1: redirects are refused, a trickled body is cut off ------------------

X_CREDENTIALS = {"consumer_key": "ck-s3cr3t", "consumer_secret": "cs-s3cr3t",
                 "access_token": "1001-at-s3cr3t", "access_token_secret": "ats-s3cr3t"}
PAGE_TOKEN = "page-token-s3cr3t"
# The redirect's Location carries a query, as a real one might carry a token: never shown.
LOCATION_SECRET = "location-s3cr3t"
FAST = Timeouts(connect=1.0, read=0.5)  # an answer's body is cut off 1 s after its headers
TRICKLE_EVERY = 0.1  # seconds between bytes: each read is well inside the read timeout


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class LocalServer:
    """An HTTP server on 127.0.0.1 that records every connection and request it reads, and
    answers each request with ``answer(handler, server)``."""

    def __init__(self, answer: Callable[[BaseHTTPRequestHandler, LocalServer], None]) -> None:
        self.requests: list[Seen] = []
        self.connections = 0
        self.stopped = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                server.connections += 1

            def serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                server.requests.append(Seen(self.command, self.path, dict(self.headers), body))
                answer(self, server)

            do_GET = do_POST = do_DELETE = serve

            def log_message(self, *_: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> LocalServer:
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def received(self) -> bytes:
        """Everything its requests carried: lines, headers and bodies."""
        return b"\n".join(f"{seen.method} {seen.path} {seen.headers}".encode() + seen.body
                          for seen in self.requests)


def never_answer(handler: BaseHTTPRequestHandler, server: LocalServer) -> None:
    """A host that takes the request and sits on it."""
    server.stopped.wait(120)


def redirect_to(target: str) -> Callable[[BaseHTTPRequestHandler, LocalServer], None]:
    def answer(handler: BaseHTTPRequestHandler, server: LocalServer) -> None:
        handler.send_response(307)
        handler.send_header("Location", f"{target}/v24.0/1001/feed?access_token={LOCATION_SECRET}")
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    return answer


def trickle(bodies: dict[str, object], *, every: float = TRICKLE_EVERY, padding: int = 200
            ) -> Callable[[BaseHTTPRequestHandler, LocalServer], None]:
    """Answers 201 to a POST (200 otherwise) at once, then its JSON body (``bodies`` by method,
    after ``padding`` spaces) one byte per chunk, a chunk every ``every`` seconds."""
    def answer(handler: BaseHTTPRequestHandler, server: LocalServer) -> None:
        body = b" " * padding + json.dumps(bodies[handler.command]).encode()
        handler.send_response(201 if handler.command == "POST" else 200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            handler.wfile.flush()
            for byte in body:
                if server.stopped.wait(every):
                    return
                handler.wfile.write(b"1\r\n" + bytes([byte]) + b"\r\n")
                handler.wfile.flush()
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except OSError:  # the client has given up on it
            pass
    return answer


def x_client(url: str, timeouts: Timeouts = FAST):
    from metpost.platforms.x import XPlatform

    return XPlatform(Destination(account="hackney-x", handle="@MPSHackney",
                                 credentials=X_CREDENTIALS, api_url=url, timeouts=timeouts))


def facebook_client(url: str, timeouts: Timeouts = FAST):
    from metpost.platforms.facebook import FacebookPlatform

    return FacebookPlatform(Destination(account="hackney-facebook", settings={"page_id": "1001"},
                                        credentials={"page_access_token": PAGE_TOKEN},
                                        api_url=url, timeouts=timeouts))


def mastodon_client(url: str, timeouts: Timeouts = FAST):
    from metpost.platforms.mastodon import MastodonPlatform

    return MastodonPlatform(Destination(account="hackney-mastodon", settings={"api_url": url},
                                        credentials={"access_token": "masto-s3cr3t"},
                                        timeouts=timeouts))


CLIENTS = {"X": x_client, "Facebook": facebook_client, "Mastodon": mastodon_client}
POST = PostRequest(text="Roads reopen at 6pm.", idempotency_key="k-1")


@pytest.fixture
def redirected():
    """A platform that answers every request with a redirect to another host, which takes
    whatever reaches it and never answers."""
    with LocalServer(never_answer) as elsewhere, \
            LocalServer(redirect_to(elsewhere.url)) as platform:
        yield platform, elsewhere


def assert_nothing_reached(elsewhere: LocalServer) -> None:
    time.sleep(0.1)  # a request on its way would have connected by now
    assert elsewhere.connections == 0 and elsewhere.requests == []


@pytest.mark.timeout(30)
@pytest.mark.parametrize("title", CLIENTS)
def test_a_redirected_post_is_not_followed_and_may_have_gone_out(redirected, title):
    platform, elsewhere = redirected
    client = CLIENTS[title](platform.url)
    started = time.monotonic()
    with pytest.raises(PublishError) as raised:
        client.publish(POST)
    assert time.monotonic() - started < 5  # not the other host's silence, which has no end
    error = raised.value
    assert error.reason == (f"{title} answered with a redirect to {elsewhere.url}, which metpost "
                            "never follows; the post may have gone out")
    assert error.maybe_posted and not error.retry_safe and error.status == 307
    assert [seen.method for seen in platform.requests] == ["POST"]  # the platform had it
    assert_nothing_reached(elsewhere)
    assert LOCATION_SECRET not in error.reason
    client.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("title", CLIENTS)
def test_a_redirected_listing_is_an_error_and_nothing_follows_it(redirected, title):
    from datetime import UTC, datetime, timedelta

    platform, elsewhere = redirected
    client = CLIENTS[title](platform.url)
    with pytest.raises(PublishError) as raised:
        client.recent_posts(datetime.now(UTC) - timedelta(hours=1))
    error = raised.value
    assert error.reason == (f"{title} answered with a redirect to {elsewhere.url}, which metpost "
                            "never follows")
    assert not error.maybe_posted and not error.retry_safe
    assert_nothing_reached(elsewhere)
    client.close()


@pytest.mark.timeout(30)
def test_an_image_upload_redirected_made_no_post(redirected, tmp_path):
    from metpost.platforms.api import Media

    platform, elsewhere = redirected
    image = tmp_path / "a.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    request = PostRequest(text="With a map", idempotency_key="k-2",
                          media=(Media(path=image, mime_type="image/png"),))
    with pytest.raises(PublishError) as raised:
        x_client(platform.url).publish(request)
    assert raised.value.reason == (f"X answered with a redirect to {elsewhere.url}, which "
                                   "metpost never follows (to upload an image); no post was made")
    assert not raised.value.maybe_posted
    assert_nothing_reached(elsewhere)


def test_no_redirect_is_followed_whatever_the_caller_asks(redirected):
    platform, elsewhere = redirected
    session = routed_session(requests.Session(), ORIGIN, platform.url, FAST)
    for allow in (True, False):
        with pytest.raises(requests.TooManyRedirects):
            session.post(f"{ORIGIN}/2/tweets", json={}, allow_redirects=allow)
    # Nor for a URL outside the origin the adapter is mounted on.
    with pytest.raises(requests.TooManyRedirects):
        session.post(f"{platform.url}/2/tweets", json={})
    assert_nothing_reached(elsewhere)


def test_a_redirect_is_shown_by_its_scheme_and_host_only():
    from metpost.platforms.http import transport_error

    def refused(location: str, method: str = "POST") -> str:
        response = requests.Response()
        response.status_code, response.url = 308, "https://api.example/2/tweets"
        response.headers["Location"] = location
        response.request = requests.Request(method, response.url).prepare()
        return transport_error(requests.TooManyRedirects("", response=response), "X").reason

    assert refused("https://user:pw@other.example:8443/a?token=t#f").startswith(
        "X answered with a redirect to https://other.example:8443, which")
    assert refused("/elsewhere?token=t").startswith(
        "X answered with a redirect to https://api.example, which")
    assert refused("http://[::1]:8080/x").startswith("X answered with a redirect to http://[::1]:")
    assert refused("javascript:alert(1)") == (
        "X answered with a redirect, which metpost never follows; the post may have gone out")
    assert refused("https://other.example/", "DELETE").endswith(
        "never follows; the post may have been deleted")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("title, bodies", [
    ("X", {"POST": {"data": {"id": "1", "text": POST.text}}}),
    ("Facebook", {"POST": {"id": "1001_1"}}),
    ("Mastodon", {"POST": {"id": "1", "url": "https://example/1"}}),
])
def test_a_trickled_answer_to_a_post_is_cut_off_and_the_post_may_exist(title, bodies):
    # 200 bytes at 0.1 s each: 20 s unbounded; cut off 1 s (twice the read timeout) after
    # the headers came.
    with LocalServer(trickle(bodies)) as platform:
        client = CLIENTS[title](platform.url)
        started = time.monotonic()
        with pytest.raises(PublishError) as raised:
            client.publish(POST)
        elapsed = time.monotonic() - started
        client.close()
    assert elapsed < 5, elapsed
    assert raised.value.reason == f"{title} did not answer in time; the post may have gone out"
    assert raised.value.maybe_posted


@pytest.mark.timeout(30)
def test_a_slow_body_whole_within_the_limit_is_kept_and_streaming_still_works():
    answer = {"GET": {"id": 7}}
    # 9 bytes at 0.2 s: longer than the read timeout, but whole within the 3 s allowed.
    with LocalServer(trickle(answer, padding=0, every=0.2)) as slow:
        session = routed_session(requests.Session(), ORIGIN, slow.url,
                                 Timeouts(connect=1.0, read=1.5))
        assert session.get(f"{ORIGIN}/2/users/me").json() == answer["GET"]
        streamed = session.get(f"{ORIGIN}/2/users/me", stream=True)
        assert json.loads(b"".join(streamed.iter_content(3))) == answer["GET"]
    many = {"GET": list(range(2000))}  # a body of several reads, at once
    with LocalServer(trickle(many, padding=0, every=0)) as fast:
        session = routed_session(requests.Session(), ORIGIN, fast.url, FAST)
        for _ in range(3):  # the connection is kept and used again
            assert session.get(f"{ORIGIN}/x").json() == many["GET"]
        assert fast.connections == 1


# -- the same through `metpost send`, as a process ---------------------------------------------

def send_process(config, tmp_path, env, *options: str) -> tuple[dict, float, str]:
    command = [sys.executable, "-m", "metpost", "send", "--config", str(config), "--ledger",
               str(tmp_path / "ledger.sqlite3"), "--all", "-m", POST.text, "--yes", "--json",
               *options]
    started = time.monotonic()
    finished = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True,
                              timeout=120)
    elapsed = time.monotonic() - started
    assert finished.returncode == 1, finished.stdout + finished.stderr
    [post] = json.loads(finished.stdout)["posts"]
    return post, elapsed, finished.stdout + finished.stderr


@pytest.mark.timeout(150)
def test_metpost_send_to_a_page_that_redirects_sends_the_token_nowhere_else(redirected,
                                                                           tmp_path):
    platform, elsewhere = redirected
    config = write_project(tmp_path / "project", f"""\
        accounts:
          - name: hackney-facebook
            platform: facebook
            page_id: '1001'
            api_url: {platform.url}
            credentials: {{page_access_token: '${{FB_TOKEN}}'}}
        """)
    post, elapsed, output = send_process(config, tmp_path, {"FB_TOKEN": PAGE_TOKEN},
                                         "--deadline", "10", "--read-timeout", "5")
    assert post["status"] == "unknown", post
    assert post["error"].startswith(
        f"Facebook answered with a redirect to {elsewhere.url}, which metpost never follows; "
        "the post may have gone out")
    assert elapsed < 60, elapsed  # the other host never answers: following it had no end
    assert_nothing_reached(elsewhere)
    assert PAGE_TOKEN.encode() not in elsewhere.received()
    assert LOCATION_SECRET not in output and PAGE_TOKEN not in output
    assert platform.requests[0].method == "POST"
    assert PAGE_TOKEN.encode() in platform.requests[0].body  # the page's own host had it


@pytest.mark.timeout(150)
def test_metpost_send_to_x_that_trickles_ends_within_its_limits(tmp_path):
    bodies = {"POST": {"data": {"id": "1", "text": POST.text}},
              "GET": {"data": [], "meta": {"result_count": 0}}}
    # 200 bytes at 0.3 s: a minute for each answer, unbounded; each is cut off 3 s after its
    # headers (twice --read-timeout).
    with LocalServer(trickle(bodies, every=0.3)) as platform:
        credentials = ", ".join(f"{key}: '${{X_{key.upper()}}}'" for key in X_CREDENTIALS)
        config = write_project(tmp_path / "project", f"""\
            accounts:
              - name: hackney-x
                platform: x
                handle: '@MPSHackney'
                api_url: {platform.url}
                credentials: {{{credentials}}}
            """)
        env = {f"X_{key.upper()}": value for key, value in X_CREDENTIALS.items()}
        post, elapsed, _ = send_process(config, tmp_path, env,
                                        "--deadline", "10", "--read-timeout", "1.5")
    assert post["status"] == "unknown", post
    assert post["error"].startswith("X did not answer in time; the post may have gone out")
    # The post's answer and the listing that looks for it, 3 s each, and a wide margin.
    assert elapsed < 30, elapsed
    assert [seen.method for seen in platform.requests].count("POST") == 1


@pytest.mark.timeout(60)
def test_a_webhook_receiver_that_trickles_its_answer_is_cut_off_too(tmp_path):
    # The webhook has its own session (any address, its own redirect handling): its answer is
    # bounded as the platforms' are, not left to run for as long as the receiver likes.
    from tests.conftest import run, write_project

    with LocalServer(trickle({"POST": {"ok": True}})) as receiver:
        config = write_project(tmp_path / "project", (
            "accounts:\n  - name: hook\n    platform: webhook\n"
            f"    url: {receiver.url}/hook\n"))
        started = time.monotonic()
        outcome = run(["send", "--config", str(config), "--ledger", str(tmp_path / "l.sqlite3"),
                       "--all", "-m", "Roads reopen.", "--yes", "--json", "--read-timeout",
                       "0.5", "--deadline", "2"])
        elapsed = time.monotonic() - started
    [post] = json.loads(outcome.stdout)["posts"]
    assert post["status"] == "unknown", post  # taken, perhaps: never reported failed
    assert "did not answer in time" in post["error"]
    assert elapsed < 15, elapsed  # unbounded, each attempt would take 20 s


def answer_posted(handler: BaseHTTPRequestHandler, server: LocalServer) -> None:
    body = json.dumps({"data": {"id": "1", "text": POST.text}, "id": "1"}).encode()
    handler.send_response(201)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def self_signed(tmp_path):
    """A TLS server on 127.0.0.1 whose certificate no CA signed (as a proxy that intercepts
    TLS, or a missing CA bundle, makes every real platform look)."""
    import shutil
    import ssl

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with LocalServer(answer_posted) as server:
        server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
        server.url = server.url.replace("http://", "https://")
        yield server


@pytest.mark.timeout(60)
@pytest.mark.parametrize("title", sorted(CLIENTS))
def test_a_tls_handshake_that_fails_sent_nothing_and_may_be_retried(title, self_signed):
    with LocalServer(answer_posted) as plain:  # https:// to a server that speaks plain HTTP
        for url, why in ((plain.url.replace("http://", "https://"),
                          "the TLS handshake failed (wrong version number)"),
                         (self_signed.url, "its certificate could not be verified (")):
            client = CLIENTS[title](url)
            with pytest.raises(PublishError) as raised:
                client.publish(POST)
            client.close()
            assert raised.value.reason.startswith(f"could not connect to {title}: {why}")
            assert raised.value.retry_safe and not raised.value.maybe_posted
    assert plain.requests == self_signed.requests == []


@pytest.mark.parametrize(("date", "expected"), [
    ("Thu, 03 Dec 2026 12:00:03 GMT", 0.0),  # within a few seconds: the clocks agree
    ("Thu, 03 Dec 2026 12:30:00 GMT", 1800.0),
    ("Thu, 03 Dec 2026 11:00:00 GMT", -3600.0),
    ("Mon, 01 Jan 1900 00:00:00 GMT", None),  # a broken header, not a clock set wrong
    ("Fri, 31 Dec 9999 23:59:59 GMT", None),
    ("yesterday", None),
    ("", None),
    (None, None),
])
def test_a_platforms_clock_is_read_from_its_date_header(date, expected):
    from datetime import UTC, datetime

    from metpost.platforms.clocks import seconds_ahead

    ours = datetime(2026, 12, 3, 12, 0, tzinfo=UTC).timestamp()
    assert seconds_ahead(date, ours) == expected
