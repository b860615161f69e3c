"""A fake Facebook Graph API for Pages, as unkind as the real one: publish, read, list, delete.

Routes (any ``/vNN.N`` prefix, recorded in ``versions_seen``; none means the app's default):
``POST /{page-id}/feed``, ``GET /{page-id}/posts`` (also ``/feed``, ``/published_posts``),
``GET /{page-id}``, ``GET /me``, ``GET /{post-id}``, ``DELETE /{post-id}``. Shapes followed,
and where found:

- Every answer is JSON sent as ``application/json; charset=UTF-8`` (facebook-sdk 3.1 decides how
  to parse a body from ``content-type``, and ignores the status). Errors are ``{"error":
  {"message", "type", "code", "error_subcode"?, "is_transient"?, "fbtrace_id"}}``, HTTP 400 unless
  said otherwise. https://developers.facebook.com/docs/graph-api/guides/error-handling
- ``POST /{page-id}/feed`` (form fields ``message``, ``access_token``; or the token in the query
  string or an ``Authorization: OAuth|Bearer`` header; a JSON body is read too) -> 200
  ``{"id": "{page-id}_{post-id}"}``. https://developers.facebook.com/docs/graph-api/reference/page/feed
- Tokens: none is code 104; an unknown one code 190 "Invalid OAuth access token - Cannot parse
  access token"; a revoked one code 190, subcode 460 (password changed / session invalidated).
- An object that does not exist, *or that the token may not act on*, is code 100, subcode 33,
  GraphMethodException, "Unsupported {get|post|delete} request. Object with ID '...' does not
  exist, cannot be loaded due to missing permissions, or does not support this operation. ...":
  Graph uses one error for "gone" and "not allowed", so a client cannot tell them apart.
- Duplicates: code 506 "(#506) Duplicate status message". "Duplicate posts cannot be published
  consecutively" (error-handling guide), so the fake refuses only a message identical to the
  page's most recent live post; an older identical post does not count. ``refuse_duplicates =
  False`` accepts everything. A post with no message is code 100 "(#100) Missing message or
  attachment".
- ``GET /{page-id}/posts``: newest first, ``{"data": [...], "paging": {"cursors": {"before",
  "after"}, "next"?}}``; ``limit`` (default 25, at most 100), ``after`` (a cursor), ``since`` (Unix
  seconds or an ISO 8601 time; posts at or after it). ``paging.next`` is a whole URL that
  repeats the query, access token included, as Graph's next links do in real answers (the
  docs' example shows only ``limit`` and ``after``). ``fields`` picks among ``id``,
  ``message``, ``created_time`` (``2026-11-24T07:00:00+0000``); any other field is code 100
  "(#100) Tried accessing nonexisting field (...)". https://developers.facebook.com/docs/graph-api/results
- ``GET /{page-id}`` with the page's own token -> ``{"name", "id"}`` (default fields), or the
  ``fields`` asked for among ``id``, ``name`` and ``username`` (left out when the page has
  none, as Graph leaves out empty fields); another field is code 100 "(#100) Tried accessing
  nonexisting field (...) on node type (Page)". With another page's token it is 100/33, as for
  any object the token cannot load. ``GET /me`` is the token's own page, as with any page
  access token. https://developers.facebook.com/docs/graph-api/reference/page
- ``GET /{post-id}`` -> the post (default fields ``created_time``, ``message``, ``id``), or
  100/33. ``DELETE /{post-id}`` -> ``{"success": true}``, or 100/33 for a post that is gone or
  another page's. https://developers.facebook.com/docs/pages/getting-started
- ``POST /{page-id}/photos`` (multipart: the file as ``source``, and the fields ``published``,
  ``caption``, ``alt_text_custom``, ``access_token``) -> ``{"id": PHOTO}``; published (the
  default) it is also a page post with the caption as its message, and answers ``{"id",
  "post_id"}`` (graph-api/reference/photo: "Struct {id, post_id}"). The type is found in the
  file: JPEG, PNG, GIF, BMP or TIFF; a photo "must be less than 10MB"; otherwise code 324
  "(#324) Requires upload file" (graph-api/reference/page/photos error codes; the wording as
  Graph answers a missing or unreadable file). An unpublished photo is no post, and is
  deleted after a day if no post carries it.
- ``POST /{page-id}/feed`` may carry ``attached_media[N]={"media_fbid": PHOTO}`` (the Pages API
  "multi-photo post"): each must be an unpublished photo of this page that no post carries
  yet, otherwise code 100 "(#100) param attached_media[N] has an invalid media_fbid"; the
  message may then be empty.

Faults of Graph's own (besides those of ``FakeServer``):

- ``fail_next(n, status)``: code 2, ``is_transient: true``, "An unexpected error has occurred.
  Please retry your request later.", with the 5xx status; nothing stored.
- ``post_then_fail_next(n, status=500, code=1)``: the post *is* stored (the delete done), then
  the answer is code 1 "An unknown error has occurred." (or code 2, transient) with the 5xx status.
- ``rate_limit_next(n, reset_in, code=80001, status=400)``: throttling the Graph way, HTTP 400
  and never a ``Retry-After`` header (Graph sends none). By code, per
  https://developers.facebook.com/docs/graph-api/overview/rate-limiting:

  - 4, "(#4) Application request limit reached": ``X-App-Usage`` ``{call_count, total_cputime,
    total_time}`` (percentages; no time is given).
  - 17, "(#17) User request limit reached": no usage header ("we do not reveal actual call count
    values for users").
  - 32, "(#32) Page request limit reached": ``X-Page-Usage``, X-App-Usage's keys plus
    ``estimated_time_to_regain_access`` (minutes). Graph sends that header on Pages calls (as
    seen in client code; the rate-limiting page documents only X-App-Usage for Platform limits).
  - 613, "(#613) Calls to this api have exceeded the rate limit.": ``X-App-Usage``.
  - 80001, "(#80001) There have been too many calls to this Page account. Wait a bit and try
    again. ...", what page tokens get: ``X-Business-Use-Case-Usage`` ``{"{page-id}": [{"type":
    "pages", call_count, total_cputime, total_time, estimated_time_to_regain_access}]}``.
  - 341, "(#341) Feed action request limit reached": no usage header (the error-handling guide
    lists 341 as "Application limit reached", throttling).

  ``estimated_time_to_regain_access`` is ``reset_in`` rounded *up to whole minutes*: a client
  that reads it as seconds waits 60 times too little.
- ``forbid_delete_next(n)``: the next ``n`` DELETEs (only) answer the 100/33 error while the post
  stays, as Graph answers when the token lacks the permission.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from tests.fake_platforms.images import sniffed_type
from tests.fake_platforms.server import DELETE_ONLY, FakeServer, Fault, Reply, Request

JSON_UTF8 = "application/json; charset=UTF-8"
VERSION = re.compile(r"v\d+\.\d+")
GRAPH_DOCS = ("Please read the Graph API documentation at "
              "https://developers.facebook.com/docs/graph-api")
RATE_LIMIT_DOCS = ("For more info, please refer to "
                   "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.")
RATE_LIMIT_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80001: "(#80001) There have been too many calls to this Page account. Wait a bit and try "
           f"again. {RATE_LIMIT_DOCS}",
    341: "(#341) Feed action request limit reached",
}
SERVER_ERRORS = {
    1: ("An unknown error has occurred.", False),
    2: ("An unexpected error has occurred. Please retry your request later.", True),
}
SESSION_INVALIDATED = ("Error validating access token: The session has been invalidated because "
                       "the user changed their password or Facebook has changed the session for "
                       "security reasons.")
POST_FIELDS = ("id", "message", "created_time")
DEFAULT_POST_FIELDS = ("created_time", "message", "id")
PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/bmp", "image/tiff"})
MAX_PHOTO_BYTES = 10_000_000  # "a photo must be less than 10MB in size"

_post_numbers = itertools.count(122_100_000_000_000_001)


@dataclass
class Page:
    """A Facebook Page the fake knows, and the page access token that acts for it."""

    id: str
    name: str
    token: str
    username: str | None = None


@dataclass
class PagePost:
    """A stored page post; ``id`` is ``{page_id}_{number}`` as Graph gives it."""

    id: str
    page_id: str
    message: str
    created_at: float  # epoch seconds (tests may move it)
    deleted: bool = False
    photo_ids: tuple[str, ...] = ()  # the photos it carries


@dataclass
class PagePhoto:
    """An uploaded photo: its page, bytes, type as Graph found it, alt text, and the post that
    carries it (None while it is unpublished)."""

    id: str
    page_id: str
    data: bytes
    mime_type: str
    alt_text: str | None
    post_id: str | None = None
    uploaded_at: float = 0.0


class FakeGraph(FakeServer):
    """Graph API on 127.0.0.1 (see the module docstring for what it answers)."""

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__(latency)
        self.pages: dict[str, Page] = {}
        self.posts: list[PagePost] = []  # every post, deleted ones included, oldest first
        self.revoked: set[str] = set()  # tokens that now get 190/460
        self.refuse_duplicates = True
        self.versions_seen: set[str] = set()
        self.photos: dict[str, PagePhoto] = {}

    # -- set-up and inspection ---------------------------------------------------------------

    def add_page(self, page_id: str, name: str, token: str, username: str | None = None) -> None:
        """Know a page, acted for by this page access token (``username``: its @name)."""
        with self._lock:
            self.pages[str(page_id)] = Page(str(page_id), name, token, username)

    def revoke(self, token: str) -> None:
        """From now on, this token gets code 190, subcode 460."""
        with self._lock:
            self.revoked.add(token)

    def live_posts(self, page_id: str | None = None) -> list[PagePost]:
        """Posts not deleted, oldest first: every page's, or one page's."""
        with self._lock:
            return [p for p in self.posts
                    if not p.deleted and (page_id is None or p.page_id == str(page_id))]

    # -- faults of Graph's own ---------------------------------------------------------------

    def post_then_fail_next(self, n: int = 1, status: int = 500, code: int = 1) -> None:
        """Store the next ``n`` posts (do the deletes), then answer a Graph server error:
        code 1 "An unknown error has occurred." or code 2 (transient), with ``status``."""
        if not 500 <= status <= 599:
            raise ValueError(f"post_then_fail_next takes a 5xx status, not {status}")
        if code not in SERVER_ERRORS:
            raise ValueError(f"code is one of {sorted(SERVER_ERRORS)}, not {code}")
        self.queue_fault(n, Fault("post_then_fail", process=True,
                                  answer=lambda _: _server_error(status, code)))

    def rate_limit_next(self, n: int = 1, reset_in: float = 1.0, code: int = 80001,
                        status: int = 400) -> None:
        """Answer the next ``n`` writes with Graph throttling error ``code`` (4, 17, 32, 613,
        80001 or 341) and the usage header Graph sends with it; never a Retry-After."""
        if code not in RATE_LIMIT_MESSAGES:
            raise ValueError(f"code is one of {sorted(RATE_LIMIT_MESSAGES)}, not {code}")
        self.queue_fault(n, Fault("rate_limit", answer=lambda request: self._throttled(
            request, code, reset_in, status)))

    def forbid_delete_next(self, n: int = 1) -> None:
        """Answer the next ``n`` DELETEs with the 100/33 error; the post stays."""
        self.queue_fault(n, Fault("forbid_delete", methods=DELETE_ONLY,
                                  answer=lambda request: _unsupported("delete",
                                                                      _object_id(request))))

    # -- the API -----------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        """Strip and record the version, authorise the token, then dispatch."""
        parts, version = _split_path(request.path)
        if version:
            with self._lock:
                self.versions_seen.add(version)
        params = _params(request)
        page = self._authorise(params, request)
        if isinstance(page, Reply):
            return page
        match request.method, parts:
            case "POST", [page_id, "feed"]:
                return self._publish(page, page_id, params)
            case "POST", [page_id, "photos"]:
                return self._photo(page, page_id, params, request)
            case "GET", [page_id, "posts" | "feed" | "published_posts"]:
                return self._list(page, page_id, params, version)
            case "GET", [object_id]:
                return self._read(page, object_id, params)
            case "DELETE", [object_id]:
                return self._delete(page, object_id)
        if len(parts) > 1:
            return _error(f"Unknown path components: /{'/'.join(parts[1:])}",
                          "OAuthException", 2500)
        return _unsupported(request.method.lower(), parts[0] if parts else "")

    def error_reply(self, status: int) -> Reply:
        """Code 2, transient, with the injected 5xx status."""
        return _server_error(status, 2)

    def rate_limit_reply(self, reset_in: float) -> Reply:
        """Page-token throttling, code 80001 (what ``rate_limit_next`` sends by default)."""
        return self._throttled(None, 80001, reset_in, 400)

    def _throttled(self, request: Request | None, code: int, reset_in: float,
                   status: int) -> Reply:
        reply = _error(RATE_LIMIT_MESSAGES[code], "OAuthException", code, status=status)
        minutes = max(1, math.ceil(reset_in / 60))
        usage = {"call_count": 100, "total_cputime": 31, "total_time": 47}
        if code in (4, 613):
            reply.headers["X-App-Usage"] = json.dumps(usage)
        elif code == 32:
            reply.headers["X-Page-Usage"] = json.dumps(
                {**usage, "estimated_time_to_regain_access": minutes})
        elif code == 80001:
            page_id = self._page_of(request) if request is not None else ""
            reply.headers["X-Business-Use-Case-Usage"] = json.dumps(
                {page_id: [{"type": "pages", **usage,
                            "estimated_time_to_regain_access": minutes}]})
        return reply

    def _page_of(self, request: Request) -> str:
        """The page a request is about: the one its token acts for, else the path's first id."""
        token = _params(request).get("access_token") or _bearer(request)
        with self._lock:
            page = next((p for p in self.pages.values() if p.token == token), None)
        return page.id if page else _object_id(request).partition("_")[0]

    def _authorise(self, params: dict[str, str], request: Request) -> Page | Reply:
        token = params.get("access_token") or _bearer(request)
        if not token:
            return _error("An access token is required to request this resource.",
                          "OAuthException", 104)
        with self._lock:
            if token in self.revoked:
                return _error(SESSION_INVALIDATED, "OAuthException", 190, subcode=460)
            page = next((p for p in self.pages.values() if p.token == token), None)
        if page is None:
            return _error("Invalid OAuth access token - Cannot parse access token",
                          "OAuthException", 190)
        return page

    def _publish(self, page: Page, page_id: str, params: dict[str, str]) -> Reply:
        if page_id != page.id:
            return _unsupported("post", page_id)
        message = params.get("message", "")
        attached = _attached_media(params)
        if isinstance(attached, Reply):
            return attached
        if not message.strip() and not attached:
            return _error("(#100) Missing message or attachment", "OAuthException", 100)
        with self._lock:
            for number, photo_id in enumerate(attached):
                photo = self.photos.get(photo_id)
                if photo is None or photo.page_id != page_id or photo.post_id is not None:
                    return _error(f"(#100) param attached_media[{number}] has an invalid "
                                  "media_fbid", "OAuthException", 100)
            if self.refuse_duplicates and message and self._latest_message(page_id) == message:
                return _error("(#506) Duplicate status message", "OAuthException", 506)
            post = PagePost(f"{page_id}_{next(_post_numbers)}", page_id, message, self.now(),
                            photo_ids=tuple(attached))
            for photo_id in attached:
                self.photos[photo_id].post_id = post.id
            self.posts.append(post)
        return Reply(200, {"id": post.id}, content_type=JSON_UTF8)

    def _photo(self, page: Page, page_id: str, params: dict[str, str],
               request: Request) -> Reply:
        if page_id != page.id:
            return _unsupported("post", page_id)
        source = request.multipart().get("source")
        mime_type = sniffed_type(source.data) if source is not None else None
        if source is None or mime_type not in PHOTO_TYPES or len(source.data) >= MAX_PHOTO_BYTES:
            return _error("(#324) Requires upload file", "OAuthException", 324)
        published = params.get("published", "true").lower() not in ("false", "0")
        with self._lock:
            photo = PagePhoto(str(next(_post_numbers)), page_id, source.data, mime_type,
                              params.get("alt_text_custom"), uploaded_at=time.time())
            self.photos[photo.id] = photo
            if not published:
                return Reply(200, {"id": photo.id}, content_type=JSON_UTF8)
            post = PagePost(f"{page_id}_{next(_post_numbers)}", page_id,
                            params.get("caption", ""), self.now(), photo_ids=(photo.id,))
            photo.post_id = post.id
            self.posts.append(post)
        return Reply(200, {"id": photo.id, "post_id": post.id}, content_type=JSON_UTF8)

    def post_photos(self, post: PagePost) -> list[PagePhoto]:
        """The photos a page post carries, in order."""
        with self._lock:
            return [self.photos[photo_id] for photo_id in post.photo_ids]

    def _latest_message(self, page_id: str) -> str | None:
        """The message of the page's most recent live post, if it has one."""
        live = [p for p in self.posts if p.page_id == page_id and not p.deleted]
        return max(live, key=lambda p: p.created_at).message if live else None

    def _list(self, page: Page, page_id: str, params: dict[str, str], version: str) -> Reply:
        if page_id != page.id:
            return _unsupported("get", page_id)
        fields = _requested_fields(params, POST_FIELDS)
        if isinstance(fields, Reply):
            return fields
        raw_limit = params.get("limit", "25")
        limit = min(int(raw_limit), 100) if raw_limit.isdigit() and int(raw_limit) > 0 else 25
        since = _parse_since(params.get("since"))
        if isinstance(since, Reply):
            return since
        with self._lock:
            newest = sorted((p for p in self.posts if p.page_id == page_id and not p.deleted),
                            key=lambda p: p.created_at, reverse=True)
        if since is not None:
            newest = [p for p in newest if p.created_at >= since]
        after = _decode_cursor(params.get("after", ""))
        if after:
            ids = [p.id for p in newest]
            newest = newest[ids.index(after) + 1:] if after in ids else []
        shown, more = newest[:limit], len(newest) > limit
        body: dict[str, Any] = {"data": [_post_json(post, fields) for post in shown]}
        if shown:
            paging: dict[str, Any] = {"cursors": {"before": _cursor(shown[0].id),
                                                  "after": _cursor(shown[-1].id)}}
            if more:
                prefix = f"/{version}" if version else ""
                query = {**{k: v for k, v in params.items() if k not in ("after", "message")},
                         "limit": str(limit), "after": _cursor(shown[-1].id)}
                paging["next"] = f"{self.url}{prefix}/{page_id}/posts?{urlencode(query)}"
            body["paging"] = paging
        return Reply(200, body, content_type=JSON_UTF8)

    def _read(self, page: Page, object_id: str, params: dict[str, str]) -> Reply:
        if object_id in (page.id, "me"):  # a page token's "me" is its page
            return _page_json(page, params)
        post = self._live_post(page, object_id)
        if post is None:
            return _unsupported("get", object_id)
        fields = _requested_fields(params, DEFAULT_POST_FIELDS)
        if isinstance(fields, Reply):
            return fields
        return Reply(200, _post_json(post, fields), content_type=JSON_UTF8)

    def _delete(self, page: Page, object_id: str) -> Reply:
        with self._lock:
            post = self._live_post(page, object_id)
            if post is None:
                return _unsupported("delete", object_id)
            post.deleted = True
        return Reply(200, {"success": True}, content_type=JSON_UTF8)

    def _live_post(self, page: Page, post_id: str) -> PagePost | None:
        """The stored post, if it exists, is not deleted and belongs to the token's page."""
        with self._lock:
            return next((p for p in self.posts if p.id == post_id and not p.deleted
                         and p.page_id == page.id), None)


def _page_json(page: Page, params: dict[str, str]) -> Reply:
    """A page's fields, as ``fields`` asks (name and id by default); empty ones left out."""
    values = {"id": page.id, "name": page.name, "username": page.username}
    wanted = [name.strip() for name in params.get("fields", "name,id").split(",") if name.strip()]
    unknown = [name for name in wanted if name not in values]
    if unknown:
        return _error(f"(#100) Tried accessing nonexisting field ({unknown[0]}) on node type "
                      "(Page)", "OAuthException", 100)
    return Reply(200, {name: values[name] for name in wanted if values[name] is not None},
                 content_type=JSON_UTF8)


def _split_path(path: str) -> tuple[list[str], str]:
    """The path's parts without the version, and the version (or "")."""
    parts = [part for part in path.split("/") if part]
    if parts and VERSION.fullmatch(parts[0]):
        return parts[1:], parts[0]
    return parts, ""


def _object_id(request: Request) -> str:
    parts, _ = _split_path(request.path)
    return parts[0] if parts else ""


def _attached_media(params: dict[str, str]) -> list[str] | Reply:
    """The photo ids of ``attached_media[0]``, ``attached_media[1]``... in order."""
    found: list[str] = []
    while f"attached_media[{len(found)}]" in params:
        number = len(found)
        try:
            value = json.loads(params[f"attached_media[{number}]"])
        except ValueError:
            value = None
        if not isinstance(value, dict) or not isinstance(value.get("media_fbid"), str):
            return _error(f"(#100) param attached_media[{number}] must be a JSON object with "
                          "media_fbid", "OAuthException", 100)
        found.append(value["media_fbid"])
    return found


def _params(request: Request) -> dict[str, str]:
    """Query parameters, overridden by form, multipart or JSON body fields, as Graph merges
    them."""
    params = dict(request.query)
    content_type = request.headers.get("content-type", "")
    if request.body and content_type.startswith("multipart/form-data"):
        params.update({name: part.text for name, part in request.multipart().items()
                       if part.filename is None})
    elif request.body and content_type.startswith("application/x-www-form-urlencoded"):
        params.update({name: values[0] for name, values in
                       parse_qs(request.body.decode("utf-8"), keep_blank_values=True).items()})
    elif request.body and content_type.startswith("application/json"):
        try:
            body = request.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            params.update({name: str(value) for name, value in body.items()})
    return params


def _bearer(request: Request) -> str:
    """The token from an ``Authorization: OAuth <token>`` or ``Bearer <token>`` header."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() in ("oauth", "bearer") else ""


def _requested_fields(params: dict[str, str], default: tuple[str, ...]) -> tuple[str, ...] | Reply:
    if "fields" not in params:
        return default
    fields = tuple(name.strip() for name in params["fields"].split(",") if name.strip())
    unknown = [name for name in fields if name not in POST_FIELDS]
    if unknown:
        return _error(f"(#100) Tried accessing nonexisting field ({unknown[0]}) on node type "
                      "(PagePost)", "OAuthException", 100)
    return fields


def _parse_since(raw: str | None) -> float | Reply | None:
    """``since`` as Unix seconds or an ISO 8601 time; a code-100 error if it is neither."""
    if raw is None or raw == "":
        return None
    if raw.isdigit():
        return float(raw)
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return _error(f"(#100) The parameter since is not a valid time: {raw}",
                      "OAuthException", 100)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _post_json(post: PagePost, fields: tuple[str, ...]) -> dict[str, Any]:
    values = {"created_time": datetime.fromtimestamp(post.created_at, UTC)
              .strftime("%Y-%m-%dT%H:%M:%S+0000"),
              "message": post.message, "id": post.id}
    return {name: values[name] for name in fields}


def _cursor(post_id: str) -> str:
    return base64.urlsafe_b64encode(post_id.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


def _unsupported(verb: str, object_id: str) -> Reply:
    return _error(f"Unsupported {verb} request. Object with ID '{object_id}' does not exist, "
                  "cannot be loaded due to missing permissions, or does not support this "
                  f"operation. {GRAPH_DOCS}", "GraphMethodException", 100, subcode=33)


def _server_error(status: int, code: int) -> Reply:
    message, transient = SERVER_ERRORS[code]
    return _error(message, "OAuthException", code, status=status, is_transient=transient)


def _error(message: str, kind: str, code: int, *, status: int = 400, subcode: int | None = None,
           is_transient: bool | None = None) -> Reply:
    """A Graph error object, as the error-handling guide shows it."""
    error: dict[str, Any] = {"message": message, "type": kind, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if is_transient is not None:
        error["is_transient"] = is_transient
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)[:22]
    return Reply(status, {"error": error}, content_type=JSON_UTF8)
