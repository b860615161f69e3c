"""A fake X API v2: POST/DELETE /2/tweets, GET /2/users/me, GET /2/users/:id/tweets.

Follows the documented shapes: a created post is 201 {"data": {"id", "text",
"edit_history_tweet_ids"}}; errors are RFC 7807 problem JSON (application/problem+json) with
title, detail, type and status; 429 carries x-rate-limit-limit/-remaining/-reset (epoch seconds).
As the real API does, returned text has &, < and > escaped as HTML entities.
Requests must carry an OAuth 1.0a Authorization header whose oauth_consumer_key and oauth_token
belong to a known user (the HMAC signature is not checked: the client signs for the real host).
"""

from __future__ import annotations

import html
import itertools
import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

from tests.fake_platforms.server import FakeServer, Reply, Request

OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass
class XUser:
    id: str
    username: str
    consumer_key: str
    access_token: str


@dataclass
class XPost:
    id: str
    user_id: str
    text: str
    created_at: float
    deleted: bool = False


def iso_time(timestamp: float) -> str:
    """X's timestamps: 2026-11-24T07:00:00.000Z."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def problem(status: int, title: str, detail: str, type_: str = "about:blank") -> Reply:
    return Reply(status, {"title": title, "detail": detail, "type": type_, "status": status},
                 content_type="application/problem+json")


class FakeX(FakeServer):
    """Fake X API v2 server."""

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__(latency)
        self.users: dict[str, XUser] = {}
        self.posts: list[XPost] = []
        self.revoked: set[str] = set()
        self.refuse_duplicates = True
        self._ids = itertools.count(1790000000000000001)
        self._store = threading.Lock()

    def add_user(self, user_id: str, username: str, consumer_key: str,
                 access_token: str) -> None:
        self.users[access_token] = XUser(user_id, username, consumer_key, access_token)

    def revoke(self, access_token: str) -> None:
        self.revoked.add(access_token)

    def live_posts(self, username: str | None = None) -> list[XPost]:
        """Posts not deleted, optionally by one user."""
        ids = {u.id for u in self.users.values() if username in (None, u.username)}
        return [p for p in self.posts if not p.deleted and p.user_id in ids]

    # -- protocol ---------------------------------------------------------------------------

    def _user(self, request: Request) -> XUser | Reply:
        header = request.headers.get("authorization", "")
        if not header.startswith("OAuth "):
            return problem(401, "Unauthorized", "Unauthorized")
        params = {k: unquote(v) for k, v in OAUTH_PARAM.findall(header)}
        user = self.users.get(params.get("oauth_token", ""))
        if user is None or user.consumer_key != params.get("oauth_consumer_key"):
            return problem(401, "Unauthorized", "Unauthorized")
        if user.access_token in self.revoked:
            return problem(401, "Unauthorized", "Unauthorized")
        return user

    def route(self, request: Request) -> Reply:
        user = self._user(request)
        if isinstance(user, Reply):
            return user
        path = request.path
        if request.method == "POST" and path == "/2/tweets":
            return self._create(user, request)
        if request.method == "GET" and path == "/2/users/me":
            return Reply(200, {"data": {"id": user.id, "name": user.username,
                                        "username": user.username}})
        match = re.fullmatch(r"/2/users/(\d+)/tweets", path)
        if request.method == "GET" and match:
            return self._timeline(match.group(1), request)
        match = re.fullmatch(r"/2/tweets/(\d+)", path)
        if request.method == "DELETE" and match:
            return self._delete(user, match.group(1))
        return problem(404, "Not Found Error", f"Could not find {path}",
                       "https://api.twitter.com/2/problems/resource-not-found")

    def _create(self, user: XUser, request: Request) -> Reply:
        text = (request.json() or {}).get("text")
        if not isinstance(text, str) or not text.strip():
            return problem(400, "Invalid Request",
                           "One or more parameters to your request was invalid.",
                           "https://api.twitter.com/2/problems/invalid-request")
        with self._store:
            if self.refuse_duplicates and any(p.text == text for p in self.live_posts_of(user.id)):
                return problem(403, "Forbidden",
                               "You are not allowed to create a Tweet with duplicate content.")
            post = XPost(str(next(self._ids)), user.id, text, time.time())
            self.posts.append(post)
        return Reply(201, {"data": {"id": post.id, "text": html.escape(text, quote=False),
                                    "edit_history_tweet_ids": [post.id]}})

    def live_posts_of(self, user_id: str) -> list[XPost]:
        return [p for p in self.posts if p.user_id == user_id and not p.deleted]

    def _timeline(self, user_id: str, request: Request) -> Reply:
        limit = int(request.query.get("max_results", ["10"])[0])
        with_time = "created_at" in request.query.get("tweet.fields", [""])[0].split(",")
        posts = list(reversed(self.live_posts_of(user_id)))[:limit]
        if not posts:
            return Reply(200, {"meta": {"result_count": 0}})
        return Reply(200, {
            "data": [{"id": p.id, "text": html.escape(p.text, quote=False),
                      "edit_history_tweet_ids": [p.id],
                      **({"created_at": iso_time(p.created_at)} if with_time else {})}
                     for p in posts],
            "meta": {"result_count": len(posts), "newest_id": posts[0].id,
                     "oldest_id": posts[-1].id}})

    def _delete(self, user: XUser, post_id: str) -> Reply:
        with self._store:
            post = next((p for p in self.posts if p.id == post_id and not p.deleted), None)
            if post is None:
                return problem(404, "Not Found Error",
                               f"Could not find tweet with id: [{post_id}].",
                               "https://api.twitter.com/2/problems/resource-not-found")
            if post.user_id != user.id:
                return problem(403, "Forbidden",
                               "You are not authorized to delete this Tweet.")
            post.deleted = True
        return Reply(200, {"data": {"deleted": True}})

    def error_reply(self, status: int) -> Reply:
        titles = {500: "Internal Server Error", 502: "Bad Gateway",
                  503: "Service Unavailable", 504: "Gateway Timeout"}
        title = titles.get(status, "Server Error")
        return problem(status, title, title)

    def rate_limit_reply(self, reset_in: float) -> Reply:
        reply = problem(429, "Too Many Requests", "Too Many Requests")
        reply.headers.update({"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0",
                              "x-rate-limit-reset": str(math.ceil(time.time() + reset_in))})
        return reply
