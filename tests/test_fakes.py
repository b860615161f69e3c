"""The fake X and Graph servers answer in the platforms' shapes, as unkindly as the platforms do,
and their injected faults do what they say, so the delivery tests and the benchmark can trust
them. Everything goes over real HTTP, with ``requests`` and with the real tweepy and
facebook-sdk clients."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import facebook
import pytest
import requests
import tweepy
from requests.adapters import HTTPAdapter

from tests.fake_platforms import FakeGraph, FakeX
from tests.fake_platforms.server import FakeServer, Reply, Request
from tests.fake_platforms.x_api import parse_oauth_header

HACKNEY_KEY, HACKNEY_TOKEN = "ck-hackney", "1001-tok/en+1="  # needs percent-encoding
CAMDEN_KEY, CAMDEN_TOKEN = "ck-camden", "1002-token"
UNAUTHORIZED = {"title": "Unauthorized", "type": "about:blank", "status": 401,
                "detail": "Unauthorized"}
PROBLEM = "application/problem+json"
X_JSON = "application/json; charset=utf-8"
GRAPH_JSON = "application/json; charset=UTF-8"
TCO = re.compile(r"https://t\.co/[A-Za-z0-9]{10}")
DUPLICATE = {"detail": "You are not allowed to create a Tweet with duplicate content.",
             "type": "about:blank", "title": "Forbidden", "status": 403}
LINKED = ("Roads & <junctions> shut: see met.police.uk/roads or "
          "https://www.met.police.uk/area/your-area/met/hackney/ for more")


# -- clients ----------------------------------------------------------------------------------


def oauth(consumer_key: str = HACKNEY_KEY, token: str = HACKNEY_TOKEN,
          signature: str = "c2lnbmF0dXJl+/=") -> str:
    """An OAuth 1.0a header as requests-oauthlib writes it (values percent-encoded)."""
    params = {"oauth_nonce": "8f1c", "oauth_timestamp": str(int(time.time())),
              "oauth_version": "1.0", "oauth_signature_method": "HMAC-SHA1",
              "oauth_consumer_key": consumer_key, "oauth_token": token,
              "oauth_signature": signature}
    return "OAuth " + ", ".join(f'{k}="{quote(v, safe="~")}"' for k, v in params.items())


CAMDEN = oauth(CAMDEN_KEY, CAMDEN_TOKEN)


def tweet(fake: FakeX, text: str = "Roads reopen at 6pm.", auth: str | None = None,
          timeout: Any = 5, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": oauth() if auth is None else auth}
    body = kwargs.pop("json", {"text": text})
    return requests.post(f"{fake.url}/2/tweets", json=body, headers=headers, timeout=timeout,
                         **kwargs)


def x_get(fake: FakeX, path: str, auth: str | None = None, **params: Any) -> requests.Response:
    return requests.get(f"{fake.url}{path}", params=params, timeout=5,
                        headers={"Authorization": oauth() if auth is None else auth})


def x_delete(fake: FakeX, post_id: str, auth: str | None = None) -> requests.Response:
    return requests.delete(f"{fake.url}/2/tweets/{post_id}", timeout=5,
                           headers={"Authorization": oauth() if auth is None else auth})


def timeline(fake: FakeX, user_id: str = "1001", **params: Any) -> dict:
    response = x_get(fake, f"/2/users/{user_id}/tweets", **params)
    assert response.status_code == 200, response.text
    return response.json()


def page_post(fake: FakeGraph, message: str = "Roads reopen at 6pm.",
              token: str | None = "pt-1001", page: str = "1001", version: str = "v24.0",
              timeout: Any = 5) -> requests.Response:
    data = {"message": message}
    if token is not None:
        data["access_token"] = token
    prefix = f"/{version}" if version else ""
    return requests.post(f"{fake.url}{prefix}/{page}/feed", data=data, timeout=timeout)


def graph_get(fake: FakeGraph, path: str, token: str = "pt-1001",
              **params: Any) -> requests.Response:
    return requests.get(f"{fake.url}/v24.0/{path}", params={"access_token": token, **params},
                        timeout=5)


def graph_delete(fake: FakeGraph, post_id: str, token: str = "pt-1001") -> requests.Response:
    return requests.delete(f"{fake.url}/v24.0/{post_id}", params={"access_token": token},
                           timeout=5)


def graph_error(response: requests.Response, status: int = 400) -> dict:
    assert response.status_code == status
    assert response.headers["content-type"] == GRAPH_JSON
    error = response.json()["error"]
    assert error["fbtrace_id"]
    return error


class Redirect(HTTPAdapter):
    """Sends what a library addresses to the real host to the fake instead."""

    def __init__(self, origin: str, target: str) -> None:
        super().__init__(max_retries=0)
        self.origin, self.target = origin, target

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        assert request.url is not None
        request.url = self.target + request.url[len(self.origin):]
        return super().send(request, **kwargs)


def tweepy_client(fake: FakeX, key: str = HACKNEY_KEY, token: str = HACKNEY_TOKEN
                  ) -> tweepy.Client:
    client = tweepy.Client(consumer_key=key, consumer_secret="cs", access_token=token,
                           access_token_secret="ts")
    client.session.mount("https://api.twitter.com", Redirect("https://api.twitter.com", fake.url))
    return client


def graph_client(fake: FakeGraph, token: str = "pt-1001") -> facebook.GraphAPI:
    session = requests.Session()
    session.mount("https://graph.facebook.com",
                  Redirect("https://graph.facebook.com", fake.url))
    client = facebook.GraphAPI(access_token=token, session=session)
    client.version = "v24.0"  # facebook-sdk refuses current versions in its constructor
    return client


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def x() -> Iterator[FakeX]:
    with FakeX() as fake:
        fake.add_user("1001", "MPSHackney", HACKNEY_KEY, HACKNEY_TOKEN, name="MPS Hackney")
        fake.add_user("1002", "MPSCamden", CAMDEN_KEY, CAMDEN_TOKEN)
        yield fake


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        fake.add_page("1001", "MPS Hackney", "pt-1001")
        fake.add_page("1002", "MPS Camden", "pt-1002")
        yield fake


@dataclass
class Platform:
    """One fake with a way to post to it, so fault tests run against both."""

    fake: FakeServer
    post: Callable[..., requests.Response]
    stored: Callable[[], int]


@pytest.fixture(params=["x", "graph"])
def platform(request: pytest.FixtureRequest) -> Platform:
    if request.param == "x":
        fake_x = request.getfixturevalue("x")
        return Platform(fake_x, lambda text="hi", **kw: tweet(fake_x, text, **kw),
                        lambda: len(fake_x.posts))
    fake_graph = request.getfixturevalue("graph")
    return Platform(fake_graph, lambda text="hi", **kw: page_post(fake_graph, text, **kw),
                    lambda: len(fake_graph.posts))


def age(post: Any, seconds: float) -> None:
    """Make a stored post look ``seconds`` older."""
    post.created_at -= seconds


# -- X: POST /2/tweets ------------------------------------------------------------------------


def test_x_post_returns_201_with_the_tweet_and_stores_it(x):
    response = tweet(x, "Roads reopen at 6pm.")
    assert response.status_code == 201
    assert response.headers["content-type"].startswith("application/json")
    data = response.json()["data"]
    assert data["id"].isdigit() and data["text"] == "Roads reopen at 6pm."
    assert data["edit_history_tweet_ids"] == [data["id"]]
    [stored] = x.posts
    assert (stored.id, stored.user_id, stored.text, stored.deleted) == (
        data["id"], "1001", "Roads reopen at 6pm.", False)
    assert x.live_posts("MPSHackney") == x.posts == x.live_posts("@mpshackney")
    assert x.live_posts("MPSCamden") == [] and x.live_posts() == x.posts


def test_x_ids_are_numeric_and_increase(x):
    ids = [int(tweet(x, f"post {n}").json()["data"]["id"]) for n in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_x_refuses_the_same_text_from_the_same_user_within_24_hours(x):
    assert tweet(x, "same").status_code == 201
    response = tweet(x, "same")
    assert response.status_code == 403
    assert response.headers["content-type"] == X_JSON
    assert response.json() == DUPLICATE
    assert tweet(x, "same", auth=CAMDEN).status_code == 201  # another user may
    assert tweet(x, "Same").status_code == 201  # not the same text
    assert [p.text for p in x.live_posts("MPSHackney")] == ["same", "Same"]


def test_x_accepts_the_same_text_once_the_earlier_post_is_old_enough_or_gone(x):
    first = tweet(x, "same").json()["data"]["id"]
    age(x.posts[0], 86400 - 60)
    assert tweet(x, "same").status_code == 403  # still inside the day
    age(x.posts[0], 120)
    assert tweet(x, "same").status_code == 201  # a day and a minute later
    assert tweet(x, "again").status_code == 201
    x_delete(x, x.posts[-1].id)
    assert tweet(x, "again").status_code == 201  # a deleted post does not count
    x.duplicate_window = 10
    age(x.posts[-1], 11)
    assert tweet(x, "again").status_code == 201
    assert first in {p.id for p in x.posts}


def test_x_refuse_duplicates_false_accepts_everything(x):
    x.refuse_duplicates = False
    assert [tweet(x, "same").status_code for _ in range(3)] == [201] * 3
    assert len(x.live_posts("MPSHackney")) == 3


@pytest.mark.parametrize("body", [{}, {"text": ""}, {"text": "   "}, {"text": 42}, "not an object"])
def test_x_missing_or_empty_text_is_a_400_problem(x, body):
    response = tweet(x, json=body)
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert problem["title"] == "Invalid Request" and problem["errors"][0]["message"]
    assert x.posts == []


def test_x_body_that_is_not_json_is_a_400_problem(x):
    response = requests.post(f"{x.url}/2/tweets", data=b"text=hi", timeout=5,
                             headers={"Authorization": oauth(),
                                      "Content-Type": "application/json"})
    assert response.status_code == 400 and x.posts == []


@pytest.mark.parametrize("auth", [
    "",
    "Bearer AAAAAAAAAAAAAAAAAAAAA",
    oauth(consumer_key="ck-someone-else"),
    oauth(token="9999-unknown"),
    oauth(consumer_key=CAMDEN_KEY),  # a real key, but not this token's
    oauth(signature=""),
    'OAuth oauth_consumer_key=ck-hackney, oauth_token="1001"',  # unquoted value
], ids=["none", "bearer", "wrong-key", "unknown-token", "mismatched-key", "unsigned",
        "malformed"])
def test_x_requests_without_matching_oauth_1a_credentials_get_401(x, auth):
    response = tweet(x, auth=auth)
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == UNAUTHORIZED
    assert x.posts == []


def test_x_oauth_header_values_are_percent_decoded_and_realm_ignored():
    header = ('OAuth realm="api",oauth_consumer_key="a%20b" ,  oauth_token="1001-x%2Fy%2Bz%3D",'
              'oauth_signature="s%2B%2F"')
    assert parse_oauth_header(header) == {"oauth_consumer_key": "a b",
                                          "oauth_token": "1001-x/y+z=",
                                          "oauth_signature": "s+/"}
    assert parse_oauth_header("Basic dXNlcjpwYXNz") is None
    assert parse_oauth_header('OAuth oauth_token="1", junk') is None


def test_x_revoked_token_gets_401_and_other_users_are_unaffected(x):
    x.revoke(HACKNEY_TOKEN)
    response = tweet(x)
    assert response.status_code == 401 and response.json() == UNAUTHORIZED
    assert tweet(x, auth=CAMDEN).status_code == 201
    assert [p.user_id for p in x.posts] == ["1002"]
    x.revoked.clear()
    assert tweet(x).status_code == 201


def test_x_unknown_route_is_404(x):
    assert x_get(x, "/2/nothing/here").status_code == 404


def test_tweepy_posts_through_the_fake(x):
    client = tweepy_client(x)
    created = client.create_tweet(text="From tweepy", user_auth=True)
    assert created.data["text"] == "From tweepy"
    assert [p.text for p in x.live_posts("MPSHackney")] == ["From tweepy"]
    with pytest.raises(tweepy.Forbidden) as refused:
        client.create_tweet(text="From tweepy", user_auth=True)
    assert refused.value.api_messages == [DUPLICATE["detail"]]


# -- X: what X does to text: t.co links and HTML escaping ------------------------------------------


def test_x_wraps_every_link_in_t_co_and_escapes_html_in_what_it_returns(x):
    created = tweet(x, LINKED).json()["data"]["text"]
    links = TCO.findall(created)
    assert len(links) == 2 and len(set(links)) == 2
    assert created == (f"Roads &amp; &lt;junctions&gt; shut: see {links[0]} or {links[1]} "
                       "for more")
    assert "met.police.uk" not in created
    listed = timeline(x)["data"][0]["text"]
    looked_up = x_get(x, f"/2/tweets/{x.posts[0].id}").json()["data"]["text"]
    assert listed == looked_up == created  # one post keeps its t.co links
    assert x.posts[0].text == LINKED  # what was sent is kept as sent
    x.posts[0].text += " today"  # a test may edit a stored post: its links keep their t.co
    assert timeline(x)["data"][0]["text"] == created + " today"


def test_x_wraps_links_with_or_without_a_scheme_including_t_co_links(x):
    text = "a http://example.com/x?y=1&z=2 b www.gov.uk c t.co/abc d"
    shown = tweet(x, text).json()["data"]["text"]
    assert re.fullmatch(rf"a {TCO.pattern} b {TCO.pattern} c {TCO.pattern} d", shown)


def test_x_leaves_text_without_links_alone_apart_from_escaping(x):
    assert tweet(x, "5 > 4 & 3 < 4, said nobody").json()["data"]["text"] == (
        "5 &gt; 4 &amp; 3 &lt; 4, said nobody")
    assert TCO.fullmatch(tweet(x, "no.one").json()["data"]["text"])  # .one is a TLD


def test_x_entities_describe_each_link_against_the_unescaped_text(x):
    tweet(x, LINKED)
    item = timeline(x, **{"tweet.fields": "entities,created_at"})["data"][0]
    first, second = item["entities"]["urls"]
    unescaped = item["text"].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert unescaped[first["start"]:first["end"]] == first["url"]
    assert unescaped[second["start"]:second["end"]] == second["url"]
    assert item["text"][first["start"]:first["end"]] != first["url"]  # escaping shifts them
    assert first == {"start": 30, "end": 53, "url": first["url"],
                     "expanded_url": "http://met.police.uk/roads",
                     "display_url": "met.police.uk/roads"}
    assert second["expanded_url"] == "https://www.met.police.uk/area/your-area/met/hackney/"
    assert second["display_url"] == "met.police.uk/area/your-area/met/hac…"
    assert TCO.fullmatch(first["url"]) and TCO.fullmatch(second["url"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", item["created_at"])


def test_x_entities_only_when_asked_for_and_only_when_there_are_links(x):
    tweet(x, "no links here")
    tweet(x, "one: gov.uk")
    plain, linked = reversed(timeline(x, **{"tweet.fields": "entities"})["data"])
    assert "entities" not in plain
    assert [u["expanded_url"] for u in linked["entities"]["urls"]] == ["http://gov.uk"]
    assert all("entities" not in item for item in timeline(x)["data"])


def test_tweepy_reads_back_the_wrapped_text_and_entities(x):
    client = tweepy_client(x)
    post_id = client.create_tweet(text=LINKED, user_auth=True).data["id"]
    found = client.get_tweet(post_id, tweet_fields=["entities", "created_at"], user_auth=True)
    assert TCO.search(found.data.text) and "&amp;" in found.data.text
    assert [u["expanded_url"] for u in found.data.entities["urls"]] == [
        "http://met.police.uk/roads", "https://www.met.police.uk/area/your-area/met/hackney/"]
    assert found.data.created_at.tzinfo is not None


# -- X: GET /2/users/me and GET /2/tweets/:id -------------------------------------------------


def test_x_users_me_is_the_authorised_user_and_is_counted(x):
    assert x.me_calls == 0
    assert x_get(x, "/2/users/me").json() == {
        "data": {"id": "1001", "name": "MPS Hackney", "username": "MPSHackney"}}
    camden = x_get(x, "/2/users/me", auth=CAMDEN).json()["data"]
    assert camden == {"id": "1002", "name": "MPSCamden", "username": "MPSCamden"}
    assert x_get(x, "/2/users/me", auth="").status_code == 401
    assert x.me_calls == 2  # the refused one never reached the endpoint
    tweepy_client(x).get_me(user_auth=True)
    assert x.me_calls == 3


def test_x_get_tweet_answers_the_post_with_the_fields_asked_for(x):
    post_id = tweet(x, "Roads reopen at 6pm.").json()["data"]["id"]
    plain = x_get(x, f"/2/tweets/{post_id}")
    assert plain.status_code == 200
    assert plain.json() == {"data": {"id": post_id, "text": "Roads reopen at 6pm.",
                                     "edit_history_tweet_ids": [post_id]}}
    full = x_get(x, f"/2/tweets/{post_id}", **{"tweet.fields": "created_at,author_id"})
    assert full.json()["data"]["author_id"] == "1001"
    assert full.json()["data"]["created_at"].endswith("Z")


@pytest.mark.parametrize("gone", ["never", "deleted"])
def test_x_get_tweet_of_a_missing_post_is_200_with_errors_and_no_data(x, gone):
    post_id = "1234567890123"
    if gone == "deleted":
        post_id = tweet(x).json()["data"]["id"]
        x_delete(x, post_id)
    response = x_get(x, f"/2/tweets/{post_id}")
    assert response.status_code == 200
    assert response.json() == {"errors": [{
        "value": post_id, "detail": f"Could not find tweet with id: [{post_id}].",
        "title": "Not Found Error", "resource_type": "tweet", "parameter": "id",
        "resource_id": post_id, "type": "https://api.twitter.com/2/problems/resource-not-found"}]}
    found = tweepy_client(x).get_tweet(post_id, user_auth=True)
    assert found.data is None and found.errors[0]["resource_id"] == post_id


# -- X: GET /2/users/:id/tweets -------------------------------------------------------------------


def test_x_user_tweets_are_newest_first_with_meta_and_skip_deleted(x):
    ids = [tweet(x, f"post {n}").json()["data"]["id"] for n in range(3)]
    tweet(x, "camden's", auth=CAMDEN)
    x_delete(x, ids[1])
    body = timeline(x)
    assert [t["id"] for t in body["data"]] == [ids[2], ids[0]]
    assert body["data"][0] == {"id": ids[2], "text": "post 2", "edit_history_tweet_ids": [ids[2]]}
    assert body["meta"] == {"result_count": 2, "newest_id": ids[2], "oldest_id": ids[0]}


@pytest.mark.parametrize("value", ["4", "101", "0", "ten", ""])
def test_x_user_tweets_max_results_outside_5_to_100_is_a_400_problem(x, value):
    response = x_get(x, "/2/users/1001/tweets", max_results=value)
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "errors": [{"parameters": {"max_results": [value]},
                    "message": f"The `max_results` query parameter value [{value}] is not "
                               "between 5 and 100"}],
        "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request"}


def test_x_user_tweets_default_to_ten_and_honour_max_results(x):
    x.refuse_duplicates = False
    for n in range(12):
        tweet(x, f"post {n}")
    assert timeline(x)["meta"]["result_count"] == 10
    assert [t["text"] for t in timeline(x, max_results=5)["data"]] == [
        f"post {n}" for n in (11, 10, 9, 8, 7)]
    assert timeline(x, max_results=100)["meta"]["result_count"] == 12


def test_x_user_tweets_page_through_with_next_token(x):
    ids = [tweet(x, f"post {n}").json()["data"]["id"] for n in range(12)]
    first = timeline(x, max_results=5)
    second = timeline(x, max_results=5, pagination_token=first["meta"]["next_token"])
    third = timeline(x, max_results=5, pagination_token=second["meta"]["next_token"])
    pages = [first, second, third]
    assert [len(page["data"]) for page in pages] == [5, 5, 2]
    assert [t["id"] for page in pages for t in page["data"]] == ids[::-1]
    assert "next_token" not in third["meta"]
    assert second["meta"]["newest_id"] == ids[6] and second["meta"]["oldest_id"] == ids[2]
    bad = x_get(x, "/2/users/1001/tweets", pagination_token="not-a-token")
    assert bad.status_code == 400


def test_tweepy_paginator_walks_every_page(x):
    x.refuse_duplicates = False
    for n in range(13):
        tweet(x, f"post {n}")
    client = tweepy_client(x)
    pages = list(tweepy.Paginator(client.get_users_tweets, "1001", max_results=5,
                                  user_auth=True))
    assert [len(page.data) for page in pages] == [5, 5, 3]
    assert [t.text for page in pages for t in page.data] == [f"post {n}" for n in range(12, -1, -1)]


def test_x_user_tweets_since_id_is_exclusive_and_start_time_inclusive(x):
    ids = [tweet(x, f"post {n}").json()["data"]["id"] for n in range(4)]
    assert [t["id"] for t in timeline(x, since_id=ids[1])["data"]] == [ids[3], ids[2]]
    assert timeline(x, since_id=ids[3]) == {"meta": {"result_count": 0}}
    for post, hours in zip(x.posts, (5, 3, 1, 0), strict=True):
        age(post, hours * 3600)
    cutoff = datetime.fromtimestamp(x.posts[1].created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [t["id"] for t in timeline(x, start_time=cutoff)["data"]] == [ids[3], ids[2], ids[1]]
    assert x_get(x, "/2/users/1001/tweets", start_time="yesterday").status_code == 400
    assert x_get(x, "/2/users/1001/tweets", since_id="abc").status_code == 400


def test_x_user_tweets_when_there_are_none_or_no_such_user(x):
    assert timeline(x, "1002") == {"meta": {"result_count": 0}}
    missing = x_get(x, "/2/users/4242/tweets")
    assert missing.status_code == 200
    [error] = missing.json()["errors"]
    assert error["type"] == "https://api.twitter.com/2/problems/resource-not-found"
    assert error["resource_id"] == "4242" and "data" not in missing.json()


# -- X: DELETE /2/tweets/:id -----------------------------------------------------------------------


def test_x_delete_own_tweet_then_again_then_someone_elses(x):
    mine = tweet(x, "mine").json()["data"]["id"]
    theirs = tweet(x, "theirs", auth=CAMDEN).json()["data"]["id"]
    first = x_delete(x, mine)
    assert (first.status_code, first.json()) == (200, {"data": {"deleted": True}})
    assert [p.deleted for p in x.posts if p.user_id == "1001"] == [True]
    again = x_delete(x, mine)
    assert again.status_code == 404 and again.headers["content-type"] == PROBLEM
    assert again.json()["detail"] == f"Could not find tweet with id: [{mine}]."
    assert x_delete(x, theirs).status_code == 403
    assert x.live_posts("MPSCamden")[0].id == theirs
    assert x_delete(x, mine, auth=oauth(token="9999")).status_code == 401


def test_x_delete_answers_false_next_keeps_the_post_and_waits_for_a_delete(x):
    post_id = tweet(x, "keep me").json()["data"]["id"]
    x.delete_answers_false_next(1)
    assert tweet(x, "a post in between").status_code == 201  # not a DELETE: passes the fault by
    assert x.faults_pending == 1
    response = x_delete(x, post_id)
    assert (response.status_code, response.json()) == (200, {"data": {"deleted": False}})
    assert x.live_posts("MPSHackney")[0].id == post_id
    assert x.requests[-1].fault == "delete_false"
    x.delete_answers_false_next(1)
    assert tweepy_client(x).delete_tweet(post_id, user_auth=True).data == {"deleted": False}
    assert x_delete(x, post_id).json() == {"data": {"deleted": True}}


# -- X: throttling, caps, credits ------------------------------------------------------------------


def test_x_rate_limit_is_429_with_reset_in_epoch_seconds(x):
    x.rate_limit_next(1, reset_in=1.5)
    before = time.time()
    response = tweet(x)
    assert response.status_code == 429
    assert response.json() == {"title": "Too Many Requests", "detail": "Too Many Requests",
                               "type": "about:blank", "status": 429}
    assert response.headers["x-rate-limit-remaining"] == "0"
    assert response.headers["x-rate-limit-limit"].isdigit()
    reset = int(response.headers["x-rate-limit-reset"])
    assert before + 1.5 <= reset <= time.time() + 2.5
    assert x.posts == [] and tweet(x).status_code == 201


def test_tweepy_sees_the_rate_limit_with_its_reset(x):
    x.rate_limit_next(1, reset_in=30)
    with pytest.raises(tweepy.TooManyRequests) as limited:
        tweepy_client(x).create_tweet(text="hi", user_auth=True)
    assert limited.value.response.headers["x-rate-limit-remaining"] == "0"
    assert x.posts == []


@pytest.mark.parametrize("scope", ["user", "app"])
def test_x_cap_next_is_the_24_hour_limit_while_the_15_minute_window_looks_fine(x, scope):
    other = "app" if scope == "user" else "user"
    x.cap_next(1, scope=scope, reset_in=7200)
    before = time.time()
    response = tweet(x)
    headers = response.headers
    assert response.status_code == 429 and x.posts == []
    assert response.json()["title"] == "Too Many Requests"
    assert headers[f"x-{scope}-limit-24hour-remaining"] == "0"
    assert headers[f"x-{scope}-limit-24hour-limit"].isdigit()
    assert before + 7200 <= int(headers[f"x-{scope}-limit-24hour-reset"]) <= time.time() + 7201
    assert int(headers[f"x-{other}-limit-24hour-remaining"]) > 0
    assert int(headers["x-rate-limit-remaining"]) > 0  # not the limit that bites
    assert int(headers["x-rate-limit-reset"]) <= time.time() + 901
    assert tweet(x).status_code == 201
    with pytest.raises(ValueError):
        x.cap_next(1, scope="project")


def test_x_usage_capped_next_is_a_429_that_waiting_does_not_cure(x):
    x.usage_capped_next(1)
    response = tweet(x)
    assert response.status_code == 429
    body = response.json()
    assert body["type"] == "https://api.twitter.com/2/problems/usage-capped"
    assert (body["title"], body["period"], body["scope"]) == (
        "UsageCapExceeded", "Monthly", "Product")
    assert body["detail"] == "Usage cap exceeded: Monthly product cap"
    assert int(response.headers["x-rate-limit-remaining"]) > 0
    assert x.posts == []


def test_x_credits_depleted_next_is_402_as_x_sends_it(x):
    x.credits_depleted_next(1)
    response = tweet(x)
    assert response.status_code == 402
    assert response.headers["content-type"] == X_JSON
    assert response.json() == {
        "title": "CreditsDepleted",
        "detail": "Your enrolled account [2059529979700846592] does not have any credits to "
                  "fulfill this request.",
        "type": "https://api.twitter.com/2/problems/credits"}
    assert x.posts == []
    x.credits_depleted_next(1)
    with pytest.raises(tweepy.HTTPException) as refused:
        tweepy_client(x).create_tweet(text="hi", user_auth=True)
    assert refused.value.response.status_code == 402
    assert not isinstance(refused.value, tweepy.TwitterServerError)


# -- post_then_fail: the post is made, the answer says it failed ---------------------------------


def test_x_post_then_fail_stores_the_post_then_answers_5xx_and_a_retry_is_a_duplicate(x):
    x.post_then_fail_next(1, status=503)
    response = tweet(x, "accepted after all")
    assert response.status_code == 503 and response.headers["content-type"] == PROBLEM
    assert response.json() == {"title": "Service Unavailable", "detail": "Service Unavailable",
                               "type": "about:blank", "status": 503}
    assert [p.text for p in x.live_posts("MPSHackney")] == ["accepted after all"]
    assert x.requests[-1].fault == "post_then_fail"
    retry = tweet(x, "accepted after all")
    assert (retry.status_code, retry.json()) == (403, DUPLICATE)
    with pytest.raises(ValueError):
        x.post_then_fail_next(1, status=404)


def test_graph_post_then_fail_stores_the_post_answers_code_1_and_a_retry_is_a_duplicate(graph):
    graph.post_then_fail_next(1)
    error = graph_error(page_post(graph, "accepted after all"), status=500)
    assert (error["code"], error["type"], error["message"], error["is_transient"]) == (
        1, "OAuthException", "An unknown error has occurred.", False)
    assert [p.message for p in graph.live_posts("1001")] == ["accepted after all"]
    retry = graph_error(page_post(graph, "accepted after all"))
    assert retry["code"] == 506
    graph.post_then_fail_next(1, status=502, code=2)
    error = graph_error(page_post(graph, "second"), status=502)
    assert (error["code"], error["is_transient"]) == (2, True)
    assert len(graph.live_posts("1001")) == 2
    with pytest.raises(ValueError):
        graph.post_then_fail_next(1, code=4)


def test_post_then_fail_applies_to_a_delete_too(x):
    post_id = tweet(x).json()["data"]["id"]
    x.post_then_fail_next(1, status=500)
    assert x_delete(x, post_id).status_code == 500
    assert x.live_posts() == []


# -- Graph: POST /{version}/{page-id}/feed ------------------------------------------------------


def test_graph_feed_post_returns_page_scoped_id_and_records_version(graph):
    response = page_post(graph, "Roads reopen at 6pm.")
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPH_JSON
    post_id = response.json()["id"]
    page, _, number = post_id.partition("_")
    assert page == "1001" and number.isdigit()
    [stored] = graph.live_posts("1001")
    assert (stored.id, stored.message, stored.deleted) == (post_id, "Roads reopen at 6pm.", False)
    assert graph.versions_seen == {"v24.0"} and graph.live_posts("1002") == []
    page_post(graph, "again", version="v19.0")
    page_post(graph, "unversioned", version="")
    assert graph.versions_seen == {"v24.0", "v19.0"} and len(graph.posts) == 3


def test_graph_accepts_the_token_in_the_query_string_or_an_authorization_header(graph):
    response = requests.post(f"{graph.url}/v24.0/1001/feed?access_token=pt-1001",
                             data={"message": "from the query"}, timeout=5)
    assert response.status_code == 200
    header = requests.post(f"{graph.url}/v24.0/1001/feed", data={"message": "from a header"},
                           headers={"Authorization": "OAuth pt-1001"}, timeout=5)
    assert header.status_code == 200
    assert [p.message for p in graph.posts] == ["from the query", "from a header"]


def test_graph_missing_token_is_code_104(graph):
    error = graph_error(page_post(graph, token=None))
    assert (error["code"], error["type"]) == (104, "OAuthException")
    assert graph.posts == []


def test_graph_unknown_token_is_code_190(graph):
    error = graph_error(page_post(graph, token="EAAB" + "x" * 40))
    assert error["message"] == "Invalid OAuth access token - Cannot parse access token"
    assert (error["code"], error["type"]) == (190, "OAuthException")
    assert "error_subcode" not in error and graph.posts == []


def test_graph_revoked_token_is_code_190_subcode_460(graph):
    graph.revoke("pt-1001")
    error = graph_error(page_post(graph))
    assert (error["code"], error["error_subcode"], error["type"]) == (190, 460, "OAuthException")
    assert error["message"].startswith("Error validating access token: The session has been "
                                       "invalidated")
    assert page_post(graph, token="pt-1002", page="1002").status_code == 200
    assert [p.page_id for p in graph.posts] == ["1002"]


def test_graph_refuses_only_a_repeat_of_the_pages_most_recent_post(graph):
    assert page_post(graph, "same").status_code == 200
    error = graph_error(page_post(graph, "same"))
    assert (error["code"], error["type"]) == (506, "OAuthException")
    assert error["message"] == "(#506) Duplicate status message"
    assert page_post(graph, "same", token="pt-1002", page="1002").status_code == 200
    assert page_post(graph, "something else").status_code == 200
    assert page_post(graph, "same").status_code == 200  # not consecutive any more
    assert graph_error(page_post(graph, "same"))["code"] == 506
    graph_delete(graph, graph.live_posts("1001")[-1].id)  # the latest is "something else" again
    assert graph_error(page_post(graph, "something else"))["code"] == 506
    assert [p.message for p in graph.live_posts("1001")] == ["same", "something else"]


def test_graph_duplicate_rule_looks_at_the_latest_post_by_time(graph):
    page_post(graph, "older")
    page_post(graph, "newer")
    age(graph.posts[1], 3600)  # "newer" was really posted an hour before "older"
    assert graph_error(page_post(graph, "older"))["code"] == 506
    assert page_post(graph, "newer").status_code == 200


def test_graph_refuse_duplicates_false_accepts_everything(graph):
    graph.refuse_duplicates = False
    assert [page_post(graph, "same").status_code for _ in range(3)] == [200] * 3
    assert len(graph.live_posts("1001")) == 3


@pytest.mark.parametrize("page", ["9999", "1002"], ids=["unknown-page", "another-pages-token"])
def test_graph_posting_where_the_token_cannot_is_code_100_subcode_33(graph, page):
    error = graph_error(page_post(graph, page=page))
    assert (error["code"], error["error_subcode"], error["type"]) == (
        100, 33, "GraphMethodException")
    assert error["message"].startswith(f"Unsupported post request. Object with ID '{page}' "
                                       "does not exist")
    assert graph.posts == []


def test_graph_post_without_a_message_is_code_100(graph):
    error = graph_error(page_post(graph, ""))
    assert error["code"] == 100 and graph.posts == []


def test_facebook_sdk_posts_through_the_fake(graph):
    client = graph_client(graph)
    created = client.put_object("1001", "feed", message="From facebook-sdk")
    assert created["id"].startswith("1001_")
    with pytest.raises(facebook.GraphAPIError) as refused:
        client.put_object("1001", "feed", message="From facebook-sdk")
    assert refused.value.code == 506
    assert [p.message for p in graph.live_posts("1001")] == ["From facebook-sdk"]


# -- Graph: GET posts, GET object, DELETE -------------------------------------------------------


def test_graph_page_posts_are_newest_first_and_page_through(graph):
    ids = [page_post(graph, f"post {n}").json()["id"] for n in range(3)]
    page_post(graph, "camden's", token="pt-1002", page="1002")
    first = graph_get(graph, "1001/posts", limit=2)
    assert first.headers["content-type"] == GRAPH_JSON
    body = first.json()
    assert [p["id"] for p in body["data"]] == [ids[2], ids[1]]
    assert set(body["data"][0]) == {"id", "message", "created_time"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", body["data"][0]["created_time"])
    assert set(body["paging"]["cursors"]) == {"before", "after"}
    next_url = body["paging"]["next"]
    assert parse_qs(urlsplit(next_url).query)["access_token"] == ["pt-1001"]  # as Graph does
    rest = requests.get(next_url, timeout=5).json()
    assert [p["message"] for p in rest["data"]] == ["post 0"]
    assert "next" not in rest["paging"]
    by_cursor = graph_get(graph, "1001/posts", limit=2,
                          after=body["paging"]["cursors"]["after"]).json()
    assert by_cursor["data"] == rest["data"]
    feed = graph_get(graph, "1001/feed").json()
    assert [p["id"] for p in feed["data"]] == ids[::-1]
    assert graph_error(graph_get(graph, "1002/posts"))["error_subcode"] == 33


def test_graph_page_posts_since_and_fields(graph):
    for n in range(3):
        page_post(graph, f"post {n}")
    for post, hours in zip(graph.posts, (5, 3, 1), strict=True):
        age(post, hours * 3600)
    cutoff = int(graph.posts[1].created_at)
    since = graph_get(graph, "1001/posts", since=cutoff).json()["data"]
    assert [p["message"] for p in since] == ["post 2", "post 1"]
    iso = datetime.fromtimestamp(cutoff, UTC).isoformat()
    assert graph_get(graph, "1001/posts", since=iso).json()["data"] == since
    assert graph_error(graph_get(graph, "1001/posts", since="soonish"))["code"] == 100
    only_ids = graph_get(graph, "1001/posts", fields="id").json()["data"]
    assert [set(p) for p in only_ids] == [{"id"}] * 3
    unknown = graph_error(graph_get(graph, "1001/posts", fields="id,likes"))
    assert unknown["code"] == 100 and "(likes)" in unknown["message"]


def test_facebook_sdk_lists_page_posts(graph):
    for n in range(3):
        page_post(graph, f"post {n}")
    client = graph_client(graph)
    listed = client.get_connections("1001", "posts", fields="id,message,created_time", limit="2")
    assert [p["message"] for p in listed["data"]] == ["post 2", "post 1"]
    assert "next" in listed["paging"]


def test_graph_get_post_then_delete_then_both_are_the_nonexistent_object_error(graph):
    post_id = page_post(graph).json()["id"]
    read = graph_get(graph, post_id)
    assert read.json() == {"created_time": read.json()["created_time"],
                           "message": "Roads reopen at 6pm.", "id": post_id}
    assert graph_get(graph, post_id, fields="id,message").json() == {
        "id": post_id, "message": "Roads reopen at 6pm."}
    assert graph_get(graph, "1001").json() == {"name": "MPS Hackney", "id": "1001"}
    first = graph_delete(graph, post_id)
    assert (first.status_code, first.json()) == (200, {"success": True})
    assert graph.posts[0].deleted and graph.live_posts("1001") == []
    error = graph_error(graph_delete(graph, post_id))
    assert (error["code"], error["error_subcode"]) == (100, 33)
    assert error["message"].startswith(f"Unsupported delete request. Object with ID '{post_id}' "
                                       "does not exist")
    gone = graph_error(graph_get(graph, post_id))
    assert (gone["code"], gone["error_subcode"]) == (100, 33)
    assert gone["message"].startswith("Unsupported get request.")
    assert graph_get(graph, "1001/posts").json() == {"data": []}


def test_graph_cannot_read_or_delete_another_pages_post(graph):
    post_id = page_post(graph).json()["id"]
    assert graph_error(graph_get(graph, post_id, token="pt-1002"))["error_subcode"] == 33
    assert graph_error(graph_delete(graph, post_id, token="pt-1002"))["error_subcode"] == 33
    assert not graph.posts[0].deleted


def test_graph_forbid_delete_next_answers_100_33_but_the_post_stays(graph):
    post_id = page_post(graph, "stubborn").json()["id"]
    graph.forbid_delete_next(1)
    assert page_post(graph, "a post in between").status_code == 200  # not a DELETE
    error = graph_error(graph_delete(graph, post_id))
    assert (error["code"], error["error_subcode"], error["type"]) == (
        100, 33, "GraphMethodException")
    assert error["message"].startswith(f"Unsupported delete request. Object with ID '{post_id}'")
    assert post_id in {p.id for p in graph.live_posts("1001")}
    graph.forbid_delete_next(1)
    with pytest.raises(facebook.GraphAPIError) as refused:
        graph_client(graph).delete_object(post_id)
    assert refused.value.result["error"]["error_subcode"] == 33
    assert graph_client(graph).delete_object(post_id) == {"success": True}
    assert post_id not in {p.id for p in graph.live_posts("1001")}


# -- Graph: throttling the Graph way ---------------------------------------------------------------


def usage(response: requests.Response, name: str) -> Any:
    return json.loads(response.headers[name])


@pytest.mark.parametrize(("code", "message", "header"), [
    (4, "(#4) Application request limit reached", "X-App-Usage"),
    (17, "(#17) User request limit reached", None),
    (32, "(#32) Page request limit reached", "X-Page-Usage"),
    (613, "(#613) Calls to this api have exceeded the rate limit.", "X-App-Usage"),
    (80001, "(#80001) There have been too many calls to this Page account. Wait a bit and try "
            "again. For more info, please refer to "
            "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
     "X-Business-Use-Case-Usage"),
    (341, "(#341) Feed action request limit reached", None),
])
def test_graph_rate_limit_codes_carry_their_usage_header_and_no_retry_after(
        graph, code, message, header):
    graph.rate_limit_next(1, reset_in=90, code=code)
    response = page_post(graph)
    error = graph_error(response)
    assert (error["code"], error["message"], error["type"]) == (code, message, "OAuthException")
    assert "Retry-After" not in response.headers
    usage_headers = {"X-App-Usage", "X-Page-Usage", "X-Business-Use-Case-Usage"}
    assert {name for name in usage_headers if name in response.headers} == (
        {header} if header else set())
    if header == "X-App-Usage":
        assert usage(response, header) == {"call_count": 100, "total_cputime": 31,
                                           "total_time": 47}
    elif header == "X-Page-Usage":
        assert usage(response, header)["estimated_time_to_regain_access"] == 2  # minutes
    elif header == "X-Business-Use-Case-Usage":
        [entry] = usage(response, header)["1001"]
        assert entry == {"type": "pages", "call_count": 100, "total_cputime": 31,
                         "total_time": 47, "estimated_time_to_regain_access": 2}
    assert graph.posts == [] and page_post(graph).status_code == 200


def test_graph_rate_limit_defaults_to_the_page_token_code_and_takes_a_status(graph):
    graph.rate_limit_next(1, reset_in=1.0)
    response = page_post(graph)
    assert graph_error(response)["code"] == 80001
    assert usage(response, "X-Business-Use-Case-Usage")["1001"][0][
        "estimated_time_to_regain_access"] == 1  # a second rounds up to a whole minute
    graph.rate_limit_next(1, code=4, status=403)
    assert graph_error(page_post(graph), status=403)["code"] == 4
    with pytest.raises(ValueError):
        graph.rate_limit_next(1, code=190)


def test_facebook_sdk_sees_the_throttling_error(graph):
    graph.rate_limit_next(1, code=32, reset_in=600)
    with pytest.raises(facebook.GraphAPIError) as limited:
        graph_client(graph).put_object("1001", "feed", message="hi")
    assert limited.value.code == 32
    assert graph.posts == []


# -- faults, on both fakes -------------------------------------------------------------------------


def test_fail_next_answers_5xx_in_the_platforms_shape_then_recovers(platform):
    platform.fake.fail_next(2, status=503)
    first, second = platform.post("a"), platform.post("b")
    assert first.status_code == second.status_code == 503
    body = first.json()
    if isinstance(platform.fake, FakeX):
        assert first.headers["content-type"] == PROBLEM
        assert body == {"title": "Service Unavailable", "type": "about:blank", "status": 503,
                        "detail": "Service Unavailable"}
    else:
        assert first.headers["content-type"] == GRAPH_JSON
        error = body["error"]
        assert (error["code"], error["is_transient"], error["type"]) == (2, True, "OAuthException")
        assert error["message"] == ("An unexpected error has occurred. "
                                    "Please retry your request later.")
    assert platform.stored() == 0
    assert platform.post("c").status_code in (200, 201) and platform.stored() == 1
    assert platform.fake.faults_pending == 0
    with pytest.raises(ValueError):
        platform.fake.fail_next(1, status=404)


def test_graph_fail_next_uses_the_injected_status(graph):
    graph.fail_next(1, status=500)
    response = page_post(graph)
    assert response.status_code == 500 and response.json()["error"]["code"] == 2


def test_drop_after_accept_stores_the_post_but_never_answers(platform):
    platform.fake.drop_after_accept_next()
    with pytest.raises(requests.ConnectionError):
        platform.post("dropped")
    assert platform.stored() == 1
    dropped = platform.fake.requests[-1]
    assert (dropped.fault, dropped.status, dropped.answered_at) == ("drop", None, None)
    assert platform.post("next").status_code in (200, 201)


def test_stall_stores_the_post_and_outlasts_a_read_timeout(platform):
    platform.fake.stall_next(1, seconds=1.0)
    with pytest.raises(requests.ReadTimeout):
        platform.post("stalled", timeout=(1, 0.2))
    assert platform.stored() == 1


def test_a_short_stall_answers_late(platform):
    platform.fake.stall_next(1, seconds=0.3)
    started = time.monotonic()
    assert platform.post("late").status_code in (200, 201)
    assert time.monotonic() - started >= 0.3


def test_refuse_closes_before_storing_anything(platform):
    platform.fake.refuse_next()
    with pytest.raises(requests.ConnectionError):
        platform.post("refused")
    assert platform.stored() == 0
    refused = platform.fake.requests[-1]
    assert (refused.method, refused.fault, refused.body) == ("POST", "refuse", b"")
    assert platform.post("next").status_code in (200, 201) and platform.stored() == 1


def test_faults_are_consumed_in_order_by_writes_only(x):
    x.fail_next(1)
    x.rate_limit_next(1)
    x.refuse_next(1)
    assert x.faults_pending == 3
    assert x_get(x, "/2/users/me").status_code == 200  # a GET consumes nothing
    assert tweet(x, "1").status_code == 503
    assert tweet(x, "2").status_code == 429
    with pytest.raises(requests.ConnectionError):
        tweet(x, "3")
    assert tweet(x, "4").status_code == 201
    assert [r.fault for r in x.requests] == [None, "fail", "rate_limit", "refuse", None]


def test_a_delete_only_fault_keeps_its_place_in_the_queue(graph):
    post_id = page_post(graph, "target").json()["id"]
    graph.forbid_delete_next(1)
    graph.fail_next(1)
    assert page_post(graph, "x").status_code == 503  # the POST takes the fail, not the delete
    assert graph_error(graph_delete(graph, post_id))["error_subcode"] == 33
    assert graph.faults_pending == 0
    assert [p.message for p in graph.live_posts("1001")] == ["target"]


# -- the base server ------------------------------------------------------------------------------


def test_the_request_log_keeps_each_request_and_how_it_was_answered(x):
    assert x.request_count == 0
    before = time.time()
    tweet(x, "logged")
    x_get(x, "/2/users/1001/tweets", max_results=5)
    post, get = x.requests
    assert (post.method, post.path, post.json()) == ("POST", "/2/tweets", {"text": "logged"})
    assert post.headers["authorization"].startswith("OAuth ")
    assert post.headers["content-type"] == "application/json"
    assert (get.method, get.path, get.query, get.body) == (
        "GET", "/2/users/1001/tweets", {"max_results": "5"}, b"")
    assert (post.status, get.status) == (201, 200)
    assert before <= post.received_at <= post.answered_at <= get.received_at <= get.answered_at
    assert x.request_count == 2


def test_a_chunked_body_is_read_whole(x):
    response = requests.post(f"{x.url}/2/tweets", data=iter([b'{"text": ', b'"in chunks"}']),
                             headers={"Authorization": oauth(),
                                      "Content-Type": "application/json"}, timeout=5)
    assert x.requests[0].headers["transfer-encoding"] == "chunked"
    assert response.status_code == 201 and x.posts[0].text == "in chunks"


def test_the_graph_log_parses_form_bodies(graph):
    page_post(graph, "formed")
    assert graph.requests[0].form() == {"message": "formed", "access_token": "pt-1001"}


def test_latency_delays_every_request_without_serialising_them_and_max_in_flight_counts():
    with FakeX(latency=0.3) as fake:
        fake.add_user("1001", "MPSHackney", HACKNEY_KEY, HACKNEY_TOKEN)
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda n: tweet(fake, f"post {n}").status_code, range(8)))
        elapsed = time.monotonic() - started
        assert codes == [201] * 8
        assert 0.3 <= elapsed < 0.9
        assert fake.max_in_flight == 8 and fake.in_flight == 0


def test_max_in_flight_is_one_for_requests_made_one_after_another(graph):
    for n in range(3):
        page_post(graph, f"post {n}")
    assert graph.max_in_flight == 1 and graph.in_flight == 0


def test_concurrent_posts_from_many_users_are_all_kept_with_distinct_ids():
    # A little latency keeps the requests overlapping however busy the machine is (without
    # it, a loaded machine could answer each before the next arrived).
    with FakeX(latency=0.05) as fake:
        for n in range(40):
            fake.add_user(str(2000 + n), f"user{n}", f"ck-{n}", f"tok-{n}")
        with ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(
                lambda n: tweet(fake, "same words, https://met.police.uk",
                                auth=oauth(f"ck-{n}", f"tok-{n}")).status_code, range(40)))
        assert codes == [201] * 40
        assert len({p.id for p in fake.posts}) == 40
        assert fake.max_in_flight > 1


def test_a_request_costs_a_few_milliseconds_at_most():
    with FakeX() as fake:
        fake.add_user("1001", "MPSHackney", HACKNEY_KEY, HACKNEY_TOKEN)
        session = requests.Session()
        headers = {"Authorization": oauth()}
        started = time.perf_counter()
        for n in range(50):
            session.post(f"{fake.url}/2/tweets", json={"text": f"{n} {LINKED}"}, headers=headers,
                         timeout=5).raise_for_status()
        session.get(f"{fake.url}/2/users/1001/tweets", params={"max_results": 100,
                                                               "tweet.fields": "entities"},
                    headers=headers, timeout=5).raise_for_status()
        per_request = (time.perf_counter() - started) / 51
    assert per_request < 0.01, f"{per_request * 1000:.1f} ms per request"


def test_a_subclass_can_answer_routes_of_its_own_as_the_benchmark_does():
    class WithWebhook(FakeX):
        def route(self, request: Request) -> Reply:
            if request.path.startswith("/hook/"):
                return Reply(200, {})
            return super().route(request)

    with WithWebhook() as fake:
        assert requests.post(f"{fake.url}/hook/1", json={"body": "hi"}, timeout=5).json() == {}
        assert requests.post(f"{fake.url}/2/tweets", json={"text": "hi"}, timeout=5
                             ).status_code == 401


def test_stop_ends_a_stall_and_closes_kept_alive_connections_quickly():
    fake = FakeGraph().start()
    fake.add_page("1001", "MPS Hackney", "pt-1001")
    url = fake.url
    idle = requests.Session()
    assert idle.get(f"{fake.url}/v24.0/1001/posts?access_token=pt-1001", timeout=5).ok
    fake.stall_next(1, seconds=30)
    outcome: list[BaseException | requests.Response] = []

    def stalled_post() -> None:
        try:
            outcome.append(page_post(fake, "stalled", timeout=10))
        except requests.RequestException as error:
            outcome.append(error)

    client = threading.Thread(target=stalled_post)
    client.start()
    deadline = time.monotonic() + 2
    while not fake.posts and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    fake.stop()
    client.join(timeout=5)
    assert time.monotonic() - started < 1.5
    assert isinstance(outcome[0], requests.ConnectionError)
    assert len(fake.posts) == 1
    fake.stop()  # idempotent
    with pytest.raises(requests.ConnectionError):  # the kept-alive connection is gone too
        idle.get(f"{url}/v24.0/1001/posts?access_token=pt-1001", timeout=1)


def test_url_is_loopback_with_an_ephemeral_port_until_stopped():
    fake = FakeX()
    assert fake.url == f"http://127.0.0.1:{fake.port}" and fake.port > 0  # known before start
    with fake:
        assert x_get(fake, "/2/users/me").status_code == 401
    with pytest.raises(RuntimeError):
        _ = fake.url
    with pytest.raises(RuntimeError):
        fake.start()
    FakeGraph().stop()  # stopping one never started does not hang
