"""A fake Facebook Graph API for pages: POST /{v}/{page}/feed, GET /{v}/{page}/posts,
DELETE /{v}/{post}.

Follows the documented shapes: a page post returns {"id": "PAGEID_POSTID"}; errors are
{"error": {"message", "type", "code", "error_subcode"?, "is_transient"?, "fbtrace_id"}}
(code 190 invalid/expired token, 100 bad parameter or missing object, 506 duplicate post,
4 app request limit, 2 temporary service error). Any /vNN.N/ version is accepted and recorded.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from tests.fake_platforms.server import FakeServer, Reply, Request

VERSIONED = re.compile(r"^/(v\d+\.\d+)/(.+)$")


@dataclass
class Page:
    id: str
    name: str
    token: str


@dataclass
class PagePost:
    id: str
    page_id: str
    message: str
    created_at: float
    deleted: bool = False


def graph_error(message: str, code: int, type_: str = "OAuthException", status: int = 400,
                subcode: int | None = None, transient: bool = False) -> Reply:
    error: dict[str, object] = {"message": message, "type": type_, "code": code,
                                "fbtrace_id": "AbCdEfGhIjK"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient:
        error["is_transient"] = True
    return Reply(status, {"error": error}, content_type="application/json; charset=UTF-8")


INVALID_TOKEN = ("Invalid OAuth access token - Cannot parse access token", 190)


class FakeGraph(FakeServer):
    """Fake Graph API server."""

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__(latency)
        self.pages: dict[str, Page] = {}
        self.posts: list[PagePost] = []
        self.revoked: set[str] = set()
        self.refuse_duplicates = True
        self.versions_seen: set[str] = set()
        self._numbers = itertools.count(100001)
        self._store = threading.Lock()

    def add_page(self, page_id: str, name: str, token: str) -> None:
        self.pages[page_id] = Page(page_id, name, token)

    def revoke(self, token: str) -> None:
        self.revoked.add(token)

    def live_posts(self, page_id: str | None = None) -> list[PagePost]:
        return [p for p in self.posts if not p.deleted and page_id in (None, p.page_id)]

    # -- protocol ---------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        match = VERSIONED.match(request.path)
        if not match:
            return graph_error("Unknown path components: " + request.path, 2500)
        version, rest = match.groups()
        self.versions_seen.add(version)
        params = {k: v[0] for k, v in request.query.items()}
        if request.method == "POST":
            params.update(request.form())
        token = params.get("access_token", "")
        parts = rest.split("/")
        if request.method == "POST" and len(parts) == 2 and parts[1] == "feed":
            return self._post(parts[0], token, params.get("message", ""))
        if request.method == "GET" and len(parts) == 2 and parts[1] in ("posts", "feed"):
            return self._list(parts[0], token, int(params.get("limit", "25")))
        if request.method == "DELETE" and len(parts) == 1:
            return self._delete(parts[0], token)
        return graph_error(f"Unsupported {request.method.lower()} request.", 100,
                           "GraphMethodException")

    def _authorise(self, page_id: str, token: str) -> Page | Reply:
        if token in self.revoked:
            return graph_error("Error validating access token: The session has been "
                               "invalidated because the user changed their password or "
                               "Facebook has changed the session for security reasons.",
                               190, subcode=460)
        page = self.pages.get(page_id)
        if page is None:
            return graph_error(f"Unsupported post request. Object with ID '{page_id}' does "
                               "not exist, cannot be loaded due to missing permissions, or "
                               "does not support this operation.", 100,
                               "GraphMethodException", subcode=33)
        if token != page.token:
            return graph_error(*INVALID_TOKEN)
        return page

    def _post(self, page_id: str, token: str, message: str) -> Reply:
        page = self._authorise(page_id, token)
        if isinstance(page, Reply):
            return page
        if not message.strip():
            return graph_error("(#100) Missing message or attachment", 100)
        with self._store:
            duplicate = any(p.message == message for p in self.live_posts(page.id))
            if self.refuse_duplicates and duplicate:
                return graph_error("Duplicate status message", 506)
            post = PagePost(f"{page.id}_{next(self._numbers)}", page.id, message, time.time())
            self.posts.append(post)
        return Reply(200, {"id": post.id}, content_type="application/json; charset=UTF-8")

    def _list(self, page_id: str, token: str, limit: int) -> Reply:
        page = self._authorise(page_id, token)
        if isinstance(page, Reply):
            return page
        posts = list(reversed(self.live_posts(page.id)))[:limit]
        data = [{"id": p.id, "message": p.message,
                 "created_time": datetime.fromtimestamp(p.created_at, UTC)
                 .strftime("%Y-%m-%dT%H:%M:%S+0000")} for p in posts]
        return Reply(200, {"data": data, "paging": {"cursors": {"before": "b", "after": "a"}}},
                     content_type="application/json; charset=UTF-8")

    def _delete(self, post_id: str, token: str) -> Reply:
        page_id = post_id.partition("_")[0]
        page = self._authorise(page_id, token)
        if isinstance(page, Reply):
            return page
        with self._store:
            post = next((p for p in self.live_posts(page.id) if p.id == post_id), None)
            if post is None:
                return graph_error(f"Unsupported delete request. Object with ID '{post_id}' "
                                   "does not exist, cannot be loaded due to missing "
                                   "permissions, or does not support this operation.", 100,
                                   "GraphMethodException", subcode=33)
            post.deleted = True
        return Reply(200, {"success": True}, content_type="application/json; charset=UTF-8")

    def error_reply(self, status: int) -> Reply:
        return graph_error("An unexpected error has occurred. Please retry your request "
                           "later.", 2, status=status, transient=True)

    def rate_limit_reply(self, reset_in: float) -> Reply:
        reply = graph_error("(#4) Application request limit reached", 4, status=400,
                            transient=True)
        reply.headers["Retry-After"] = str(max(1, round(reset_in)))
        return reply
