"""A fake X API v2, as unkind as the real one: create, read, list and delete posts.

Routes: ``POST /2/tweets``, ``GET /2/tweets/:id``, ``DELETE /2/tweets/:id``, ``GET /2/users/me``,
``GET /2/users/:id/tweets``, ``POST /2/users/:id/retweets``, ``DELETE
/2/users/:id/retweets/:tweet_id`` and ``GET /2/tweets/:id/retweeted_by``. Shapes followed, and
where each was found:

- Errors are RFC 7807 problem objects ``{"title", "detail", "type", "status"?}`` sent as
  ``application/problem+json``; ``about:blank`` for plain HTTP errors, ``.../invalid-request``
  with an ``errors`` list for a bad parameter.
  https://docs.x.com/x-api/fundamentals/response-codes-and-errors (the page writes problem types
  under ``https://api.x.com/2/problems/``; answers quoted from the live API, including 2026
  ones, still say ``https://api.twitter.com/2/problems/``, which the fake sends).
- ``POST /2/tweets`` -> 201 ``{"data": {"id", "text", "edit_history_tweet_ids"}}``; ``data.text``
  is the text as X stored it (links wrapped, see below). Ids are snowflake-like and increase.
  https://docs.x.com/x-api/posts/manage-tweets/quickstart
- Every link in a post is wrapped as ``https://t.co/`` + 10 letters and digits, bare domains
  such as ``met.police.uk/roads`` included: "Twitter wraps links without protocols in addition
  to fully qualified HTTP or HTTPs URLs", found "using the twitter-text library"
  (https://developer.x.com/en/docs/tco). The fake finds links with the same library
  (``twitter_text.extract_urls_with_indices``), never with metpost's code. One post keeps the
  same t.co link for a URL every time it is listed.
- Returned text has ``&``, ``<`` and ``>`` escaped as ``&amp;``, ``&lt;``, ``&gt;`` (X's
  long-standing behaviour; quoted in client issue trackers, not on docs.x.com).
- ``tweet.fields=entities`` adds ``entities.urls[]`` ``{start, end, url, expanded_url,
  display_url}`` (https://developer.x.com/en/docs/tweets/data-dictionary/overview/entities-object).
  ``url`` is the t.co link; ``expanded_url`` the link as written, with ``http://`` in front of a
  bare domain; ``display_url`` it without scheme or ``www.``, cut after 36 characters with "…"
  as in the data dictionary's ``developer.twitter.com/en/use-cases/s…``. ``start``/``end`` count
  code points in the text *before* HTML escaping (not documented for v2: the fake's choice, the
  unkind one, since text[start:end] is then off by 4 for every "&" before the link).
  ``created_at`` (``2026-11-24T07:00:00.000Z``) and ``author_id`` are given when asked for.
- ``GET /2/users/:id/tweets``: newest first; ``max_results`` 5..100 (default 10; anything else is
  the invalid-request problem naming the parameter); ``pagination_token`` takes the
  ``meta.next_token`` of the page before; ``since_id`` (exclusive) and ``start_time`` (RFC 3339,
  inclusive) narrow it. ``meta`` is ``{result_count, newest_id, oldest_id, next_token?}``, or just
  ``{"result_count": 0}``; an unknown user is 200 with a resource-not-found ``errors`` entry.
  https://docs.x.com/x-api/fundamentals/pagination
- ``GET /2/tweets/:id`` -> 200 ``{"data": {...}}``; a missing or deleted post is 200 with no
  ``data`` and ``errors: [{"value", "detail": "Could not find tweet with id: [ID].", "title":
  "Not Found Error", "resource_type": "tweet", "parameter": "id", "resource_id", "type":
  ".../resource-not-found"}]`` (the v2 partial-error shape, as X answers a lookup).
  https://docs.x.com/x-api/posts/lookup/quickstart
- ``DELETE /2/tweets/:id`` -> 200 ``{"data": {"deleted": true}}``; an id that is not (or no longer)
  there is 404 "Not Found Error", another user's post 403.
  https://docs.x.com/x-api/posts/manage-tweets/quickstart
- ``GET /2/users/me`` -> 200 ``{"data": {"id", "name", "username"}}``
  (https://docs.x.com/x-api/users/lookup/quickstart).
- ``POST /2/users/:id/retweets`` with ``{"tweet_id": "..."}`` -> 200 ``{"data": {"retweeted":
  true, "rest_id": "..."}}``: RepostPostResponseData in X's OpenAPI spec (``rest_id`` required,
  "The ID of the reposted Post"; the fake gives the repost's own id, as X's own clients read
  it). The example in https://docs.x.com/x-api/posts/retweets/quickstart/manage-retweets shows
  only ``retweeted``. Reposting a post this user has reposted already answers the same, with the
  existing repost's id, and makes nothing new (clients report it so). The path's id must be the
  authorised user's (403 otherwise); an unknown or deleted post is 404. The repost is stored as
  a post ``RT @author: text`` that reposts the original, and lists as one:
  ``tweet.fields=referenced_tweets`` gives ``[{"type": "retweeted", "id": ORIGINAL}]``;
  ``exclude=retweets`` leaves reposts out of ``GET /2/users/:id/tweets``.
- ``DELETE /2/users/:id/retweets/:tweet_id`` -> 200 ``{"data": {"retweeted": false}}``.
- ``GET /2/tweets/:id/retweeted_by`` -> 200 ``{"data": [{"id", "name", "username"}], "meta":
  {"result_count"}}``, newest repost first, or ``{"meta": {"result_count": 0}}``
  (GetPostsRepostedByResponse in X's OpenAPI spec).
- A duplicate: 403 ``{"detail": "You are not allowed to create a Tweet with duplicate content.",
  "type": "about:blank", "title": "Forbidden", "status": 403}``, sent as
  ``application/json; charset=utf-8`` (as quoted from the live API), when the same user has a
  live post with exactly this text made within ``duplicate_window`` seconds (default 24 hours).
  ``refuse_duplicates = False`` accepts every post.
- ``POST /2/media/upload`` (multipart: ``media``, the file's bytes, and ``media_category``)
  -> 200 ``{"data": {"id", "media_key": "3_ID", "size", "expires_after_secs": 86400,
  "image": {"image_type", "w", "h"}}}`` (OpenAPI 2.167 ``MediaUploadRequest`` and
  ``MediaUploadResponse``). The type is the one found in the file's first bytes: JPG, PNG,
  GIF or WEBP, at most 5,242,880 bytes (x-api/media/quickstart/best-practices); anything else
  is the invalid-request problem. ``media_category`` is required (one of the spec's enum).
- ``POST /2/media/metadata`` ``{"id", "metadata": {"alt_text": {"text"}}}`` -> 200 ``{"data":
  {"id", "associated_metadata": {"alt_text": {"text"}}}}``; text at most 1,000 characters
  (``CreateMediaMetadataMetadataAltText``); a media id the user did not upload is 400.
- ``POST /2/tweets`` takes ``reply.in_reply_to_tweet_id`` (a post that is gone is 403 "You
  attempted to reply to a Tweet that is deleted or not visible to you.") and
  ``media.media_ids`` (1 to 4 ids this user uploaded within a day; others are 400 "Your media
  IDs are invalid."). A post with images is listed with one more t.co link at the end of its
  text, whose ``entities.urls`` entry has ``expanded_url`` ``https://x.com/USER/status/ID/
  photo/1``, ``display_url`` ``pic.x.com/...`` and the first image's ``media_key``, as the data
  dictionary's examples show; ``tweet.fields=attachments`` gives ``{"media_keys": [...]}``, and
  ``referenced_tweets`` a ``replied_to`` entry for a reply.
- 401 ``{"title": "Unauthorized", "type": "about:blank", "status": 401, "detail":
  "Unauthorized"}`` unless the request has a well-formed, signed OAuth 1.0a header whose
  consumer key and token belong to a known, unrevoked user (the signature itself is not checked:
  clients sign for the real host).

Faults of X's own (besides those of ``FakeServer``), each consumed by the next write (POST or
DELETE) unless it says otherwise:

- ``rate_limit_next(n, reset_in)``: 429 "Too Many Requests" with ``x-rate-limit-limit``,
  ``x-rate-limit-remaining: 0`` and ``x-rate-limit-reset`` (Unix seconds, rounded up).
  https://docs.x.com/x-api/fundamentals/rate-limits
- ``cap_next(n, scope, reset_in)``: the 24-hour posting limit. 429 "Too Many Requests" with
  ``x-user-limit-24hour-limit/-remaining: 0/-reset`` (scope "user") or the ``x-app-limit-24hour-*``
  trio (scope "app"), the other trio with room left, and ``x-rate-limit-*`` headers that show
  the 15-minute window *not* exhausted and resetting within 15 minutes: a client that waits for
  ``x-rate-limit-reset`` is wrong. POST /2/tweets has per-24-hour limits in
  https://docs.x.com/x-api/fundamentals/rate-limits; the header names are as X sends them
  (quoted in github.com/plhery/node-twitter-api-v2/issues/553).
- ``usage_capped_next(n)``: 429 ``{"account_id", "product_name", "title": "UsageCapExceeded",
  "period": "Monthly", "scope": "Product", "detail": "Usage cap exceeded: Monthly product cap",
  "type": ".../usage-capped"}`` with a 15-minute window that has plenty left: waiting does not
  help. UsageCapExceededProblem in X's OpenAPI spec; the body as quoted in
  github.com/xdevplatform/xdk/issues/25.
- ``credits_depleted_next(n)``: 402 ``{"title": "CreditsDepleted", "detail": "Your enrolled account
  [ID] does not have any credits to fulfill this request.", "type": ".../credits"}`` as
  ``application/json; charset=utf-8``. Pay-per-use credits:
  https://docs.x.com/x-api/getting-started/pricing; the body (185 bytes, as X sends it) as quoted
  in client code and issues.
- ``delete_answers_false_next(n)``: the next ``n`` DELETEs (only) answer 200
  ``{"data": {"deleted": false}}`` and the post stays; TweetDeleteResponse's ``deleted`` is a
  boolean in X's OpenAPI spec.
- ``post_then_fail_next(n, status)``: the post is stored, then the answer is a 5xx problem.

``me_calls`` counts ``GET /2/users/me`` requests.
"""

from __future__ import annotations

import base64
import html
import math
import re
import secrets
import string
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

from twitter_text import extract_urls_with_indices

from tests.fake_platforms.images import png_size, sniffed_type
from tests.fake_platforms.server import DELETE_ONLY, FakeServer, Fault, Reply, Request

PROBLEM_JSON = "application/problem+json"
JSON_UTF8 = "application/json; charset=utf-8"
PROBLEMS = "https://api.twitter.com/2/problems/"
INVALID_REQUEST = PROBLEMS + "invalid-request"
NOT_FOUND = PROBLEMS + "resource-not-found"
USAGE_CAPPED = PROBLEMS + "usage-capped"
CREDITS = PROBLEMS + "credits"
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
ACCOUNT_ID = "2059529979700846592"  # the developer account named in usage and credit errors
DAY = 86400.0
WINDOW = 900  # X's 15-minute rate-limit window, in seconds
TCO_CHARACTERS = string.ascii_letters + string.digits
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
DISPLAY_LENGTH = 36
TWITTER_EPOCH_MS = 1288834974657
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
MAX_IMAGE_BYTES = 5_242_880
MEDIA_CATEGORIES = frozenset({"tweet_image", "tweet_video", "tweet_gif", "dm_image", "dm_video",
                              "dm_gif", "subtitles"})
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@dataclass
class XUser:
    """An account the fake knows, with the credentials that authorise it."""

    id: str
    username: str
    consumer_key: str
    access_token: str
    name: str


@dataclass
class XPost:
    """A stored post: ``text`` as it was sent (tests may change it, or ``created_at``, freely)."""

    id: str
    user_id: str
    text: str
    created_at: float  # epoch seconds
    deleted: bool = False
    links: dict[str, str] = field(default_factory=dict, repr=False)  # link as written -> t.co
    _shown: tuple[str, Shown] | None = field(default=None, repr=False, compare=False)
    repost_of: str | None = None  # a repost: the id of the post it reposts
    reply_to: str | None = None  # a reply: the id of the post it answers
    media_ids: tuple[str, ...] = ()  # its images, uploaded with /2/media/upload


@dataclass
class XMedia:
    """An uploaded image: whose, its bytes and type as X found them, and its alt text."""

    id: str
    user_id: str
    data: bytes
    mime_type: str
    uploaded_at: float
    alt_text: str | None = None
    used_by: list[str] = field(default_factory=list)  # the posts that carry it

@dataclass(frozen=True)
class Shown:
    """A post's text as X returns it, and its URL entities."""

    text: str
    urls: list[dict[str, Any]]


class FakeX(FakeServer):
    """X API v2 on 127.0.0.1 (see the module docstring for what it answers)."""

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__(latency)
        self.users: dict[str, XUser] = {}  # by access token
        self.posts: list[XPost] = []  # every post, deleted ones included, oldest first
        self.revoked: set[str] = set()  # access tokens that now get 401
        self.refuse_duplicates = True
        self.duplicate_window = DAY  # seconds within which an identical live post is refused
        self.me_calls = 0
        self.media: dict[str, XMedia] = {}  # uploads, by media id

    # -- set-up and inspection ---------------------------------------------------------------

    def add_user(self, user_id: str, username: str, consumer_key: str, access_token: str,
                 name: str | None = None) -> None:
        """Know an account, authorised by this consumer key and access token."""
        with self._lock:
            self.users[access_token] = XUser(str(user_id), username, consumer_key, access_token,
                                             name or username)

    def revoke(self, access_token: str) -> None:
        """From now on, requests signed with this access token get 401."""
        with self._lock:
            self.revoked.add(access_token)

    def live_posts(self, username: str | None = None) -> list[XPost]:
        """Posts not deleted, oldest first: everyone's, or one user's (``@`` and case ignored)."""
        with self._lock:
            wanted = None if username is None else username.lstrip("@").lower()
            ids = {u.id for u in self.users.values() if wanted in (None, u.username.lower())}
            return [p for p in self.posts if not p.deleted and p.user_id in ids]

    def shown(self, post: XPost) -> Shown:
        """``post`` as X shows it: links wrapped in t.co, then &, < and > escaped."""
        with self._lock:
            if post._shown is None or post._shown[0] != post.text:
                post._shown = (post.text, self._with_media_link(post, _wrap_links(post)))
            return post._shown[1]

    def _with_media_link(self, post: XPost, shown: Shown) -> Shown:
        """A post with images ends in one more t.co link, to its first image."""
        if not post.media_ids:
            return shown
        user = next(u for u in self.users.values() if u.id == post.user_id)
        tco = post.links.setdefault("\0media", _new_tco_link())
        start = len(html.unescape(shown.text)) + 1
        entity = {"start": start, "end": start + len(tco), "url": tco,
                  "expanded_url": f"https://x.com/{user.username}/status/{post.id}/photo/1",
                  "display_url": "pic.x.com/" + tco.rsplit("/", 1)[1],
                  "media_key": f"3_{post.media_ids[0]}"}
        return Shown(f"{shown.text} {tco}", [*shown.urls, entity])

    def post_media(self, post: XPost) -> list[XMedia]:
        """The images a post carries, in order."""
        with self._lock:
            return [self.media[media_id] for media_id in post.media_ids]

    # -- faults of X's own -----------------------------------------------------------------------

    def cap_next(self, n: int = 1, scope: str = "user", reset_in: float = 3600.0) -> None:
        """Answer the next ``n`` writes with the 24-hour posting limit (scope "user" or "app")
        that lifts in ``reset_in`` seconds, while the 15-minute window looks fine."""
        if scope not in ("user", "app"):
            raise ValueError(f"scope is 'user' or 'app', not {scope!r}")
        self.queue_fault(n, Fault("cap", answer=lambda _: _capped(scope, reset_in)))

    def usage_capped_next(self, n: int = 1) -> None:
        """Answer the next ``n`` writes with the monthly usage-cap problem (429)."""
        self.queue_fault(n, Fault("usage_capped", answer=lambda _: _usage_capped()))

    def credits_depleted_next(self, n: int = 1) -> None:
        """Answer the next ``n`` writes with 402 CreditsDepleted."""
        self.queue_fault(n, Fault("credits_depleted", answer=lambda _: _credits_depleted()))

    def delete_answers_false_next(self, n: int = 1) -> None:
        """Answer the next ``n`` DELETEs 200 ``{"data": {"deleted": false}}``; the post stays."""
        self.queue_fault(n, Fault("delete_false", methods=DELETE_ONLY,
                                  answer=lambda _: Reply(200, {"data": {"deleted": False}})))

    # -- the API -----------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        """Authorise, then dispatch on method and path."""
        user = self._authorise(request)
        if user is None:
            return _problem(401, "Unauthorized", "Unauthorized")
        parts = request.path.rstrip("/").split("/")[1:]  # "/2/tweets/1" -> ["2", "tweets", "1"]
        match request.method, parts:
            case "POST", ["2", "tweets"]:
                return self._create(user, request)
            case "POST", ["2", "media", "upload"]:
                return self._upload(user, request)
            case "POST", ["2", "media", "metadata"]:
                return self._describe(user, request)
            case "GET", ["2", "tweets", post_id]:
                return self._lookup(post_id, request)
            case "DELETE", ["2", "tweets", post_id]:
                return self._delete(user, post_id)
            case "GET", ["2", "users", "me"]:
                with self._lock:
                    self.me_calls += 1
                return Reply(200, {"data": {"id": user.id, "name": user.name,
                                            "username": user.username}})
            case "GET", ["2", "users", user_id, "tweets"]:
                return self._timeline(user_id, request)
            case "POST", ["2", "users", user_id, "retweets"]:
                return self._repost(user, user_id, request)
            case "DELETE", ["2", "users", user_id, "retweets", post_id]:
                return self._unrepost(user, user_id, post_id)
            case "GET", ["2", "tweets", post_id, "retweeted_by"]:
                return self._reposted_by(post_id)
        return _problem(404, "Not Found Error", f"Could not find {request.path}",
                        type_=NOT_FOUND)

    def error_reply(self, status: int) -> Reply:
        """A 5xx problem object, e.g. 503 "Service Unavailable"."""
        phrase = _phrase(status)
        return _problem(status, phrase, phrase)

    def rate_limit_reply(self, reset_in: float) -> Reply:
        """429 with the x-rate-limit-* headers; the reset is epoch seconds, rounded up."""
        reply = _problem(429, "Too Many Requests", "Too Many Requests")
        reply.headers.update(_window_headers(remaining=0, reset_at=self.now() + reset_in))
        return reply

    def _authorise(self, request: Request) -> XUser | None:
        params = parse_oauth_header(request.headers.get("authorization", ""))
        if params is None or not params.get("oauth_signature"):
            return None
        with self._lock:
            user = self.users.get(params.get("oauth_token", ""))
            if user is None or user.access_token in self.revoked:
                return None
        return user if params.get("oauth_consumer_key") == user.consumer_key else None

    def _create(self, user: XUser, request: Request) -> Reply:
        try:
            body = request.json()
        except ValueError:
            return _invalid_request({}, "The request body is not valid JSON.")
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            return _invalid_request({"text": [text] if isinstance(text, str) else []},
                                    "The `text` field is required and must be a non-empty string.")
        reply = body.get("reply") if isinstance(body.get("reply"), dict) else {}
        reply_to = reply.get("in_reply_to_tweet_id")
        media = body.get("media") if isinstance(body.get("media"), dict) else {}
        media_ids = media.get("media_ids") or []
        with self._lock:
            if reply_to is not None and not any(p.id == reply_to and not p.deleted
                                                for p in self.posts):
                return _problem(403, "Forbidden", "You attempted to reply to a Tweet that is "
                                "deleted or not visible to you.")
            if media_ids and not self._usable_media(user, media_ids):
                return _invalid_request({"media.media_ids": media_ids},
                                        "Your media IDs are invalid.")
            if self._is_duplicate(user, text):
                return _problem(403, "Forbidden", DUPLICATE, content_type=JSON_UTF8)
            post = XPost(_next_id(), user.id, text, self.now(), reply_to=reply_to,
                         media_ids=tuple(media_ids))
            for media_id in media_ids:
                self.media[media_id].used_by.append(post.id)
            self.posts.append(post)
        return Reply(201, {"data": {"id": post.id, "text": self.shown(post).text,
                                    "edit_history_tweet_ids": [post.id]}})

    def _usable_media(self, user: XUser, media_ids: Any) -> bool:
        """1 to 4 ids of images this user uploaded less than a day ago."""
        if not isinstance(media_ids, list) or not 1 <= len(media_ids) <= 4:
            return False
        found = [self.media.get(str(media_id)) for media_id in media_ids]
        return all(item is not None and item.user_id == user.id
                   and time.time() - item.uploaded_at < DAY for item in found)

    def _upload(self, user: XUser, request: Request) -> Reply:
        fields = request.multipart()
        media, category = fields.get("media"), fields.get("media_category")
        if category is None or category.text not in MEDIA_CATEGORIES:
            return _invalid_request({"media_category": [category.text if category else None]},
                                    "The `media_category` field is required.")
        if media is None or not media.data:
            return _invalid_request({"media": []}, "The `media` field is required.")
        mime_type = sniffed_type(media.data)
        if mime_type not in IMAGE_TYPES:
            return _invalid_request({"media": [media.filename]},
                                    "media type unrecognized.")
        if len(media.data) > MAX_IMAGE_BYTES:
            return _invalid_request({"media": [media.filename]},
                                    f"Image file size must be <= {MAX_IMAGE_BYTES} bytes")
        with self._lock:
            item = XMedia(_next_id(), user.id, media.data, mime_type, time.time())
            self.media[item.id] = item
        width, height = png_size(media.data) or (1, 1)
        return Reply(200, {"data": {"id": item.id, "media_key": f"3_{item.id}",
                                    "size": len(media.data), "expires_after_secs": int(DAY),
                                    "image": {"image_type": mime_type, "w": width,
                                              "h": height}}})

    def _describe(self, user: XUser, request: Request) -> Reply:
        try:
            body = request.json()
        except ValueError:
            return _invalid_request({}, "The request body is not valid JSON.")
        media_id = body.get("id") if isinstance(body, dict) else None
        metadata = body.get("metadata") if isinstance(body, dict) else None
        alt = (metadata or {}).get("alt_text") if isinstance(metadata, dict) else None
        text = alt.get("text") if isinstance(alt, dict) else None
        if not isinstance(text, str) or len(text) > 1000:
            return _invalid_request({"metadata.alt_text.text": [text]},
                                    "The alt text must be a string of at most 1000 characters.")
        with self._lock:
            item = self.media.get(str(media_id))
            if item is None or item.user_id != user.id:
                return _invalid_request({"id": [media_id]}, f"Invalid media id: {media_id}")
            item.alt_text = text
        return Reply(200, {"data": {"id": item.id,
                                    "associated_metadata": {"alt_text": {"text": text}}}})

    def reposts_of(self, post_id: str) -> list[XPost]:
        """Live reposts of a post, oldest first."""
        with self._lock:
            return [p for p in self.posts if p.repost_of == post_id and not p.deleted]

    def _repost(self, user: XUser, user_id: str, request: Request) -> Reply:
        if user_id != user.id:
            return _problem(403, "Forbidden", "You are not permitted to perform this action.")
        try:
            body = request.json()
        except ValueError:
            return _invalid_request({}, "The request body is not valid JSON.")
        original_id = body.get("tweet_id") if isinstance(body, dict) else None
        if not isinstance(original_id, str) or not original_id.isdigit():
            return _invalid_request({"tweet_id": [original_id]},
                                    "The `tweet_id` field must be a post id, as a string.")
        with self._lock:
            original = next((p for p in self.posts if p.id == original_id and not p.deleted
                             and p.repost_of is None), None)
            if original is None:
                return _problem(404, "Not Found Error",
                                f"Could not find tweet with id: [{original_id}].",
                                type_=NOT_FOUND)
            repost = next((p for p in self.posts if p.user_id == user.id and not p.deleted
                           and p.repost_of == original_id), None)
            if repost is None:
                author = next(u for u in self.users.values() if u.id == original.user_id)
                repost = XPost(_next_id(), user.id, f"RT @{author.username}: {original.text}",
                               self.now(), repost_of=original_id)
                self.posts.append(repost)
        return Reply(200, {"data": {"retweeted": True, "rest_id": repost.id}})

    def _unrepost(self, user: XUser, user_id: str, original_id: str) -> Reply:
        if user_id != user.id:
            return _problem(403, "Forbidden", "You are not permitted to perform this action.")
        with self._lock:
            for post in self.posts:
                if post.user_id == user.id and post.repost_of == original_id:
                    post.deleted = True
        return Reply(200, {"data": {"retweeted": False}})

    def _reposted_by(self, post_id: str) -> Reply:
        with self._lock:
            reposters = [p.user_id for p in reversed(self.posts)
                         if p.repost_of == post_id and not p.deleted]
            users = {u.id: u for u in self.users.values()}
        if not reposters:
            return Reply(200, {"meta": {"result_count": 0}})
        return Reply(200, {"data": [{"id": users[uid].id, "name": users[uid].name,
                                     "username": users[uid].username} for uid in reposters],
                           "meta": {"result_count": len(reposters)}})

    def _is_duplicate(self, user: XUser, text: str) -> bool:
        """The same user has a live post with this exact text, made within the window."""
        since = self.now() - self.duplicate_window
        return self.refuse_duplicates and any(
            p.user_id == user.id and not p.deleted and p.text == text and p.created_at >= since
            for p in self.posts)

    def _lookup(self, post_id: str, request: Request) -> Reply:
        with self._lock:
            post = next((p for p in self.posts if p.id == post_id and not p.deleted), None)
        if post is None:
            return Reply(200, {"errors": [_not_found("tweet", post_id)]})
        return Reply(200, {"data": self._post_json(post, _fields(request))})

    def _delete(self, user: XUser, post_id: str) -> Reply:
        with self._lock:
            post = next((p for p in self.posts if p.id == post_id and not p.deleted), None)
            if post is None:
                return _problem(404, "Not Found Error",
                                f"Could not find tweet with id: [{post_id}].", type_=NOT_FOUND)
            if post.user_id != user.id:
                return _problem(403, "Forbidden", "You are not authorized to delete this Tweet.")
            post.deleted = True
        return Reply(200, {"data": {"deleted": True}})

    def _timeline(self, user_id: str, request: Request) -> Reply:
        query = request.query
        raw = query.get("max_results", "10")
        if not raw.isdigit() or not 5 <= int(raw) <= 100:
            return _invalid_request({"max_results": [raw]},
                                    f"The `max_results` query parameter value [{raw}] "
                                    "is not between 5 and 100")
        since_id = query.get("since_id")
        if since_id is not None and not since_id.isdigit():
            return _invalid_request({"since_id": [since_id]},
                                    f"The `since_id` query parameter value [{since_id}] "
                                    "is not valid")
        start_time = query.get("start_time")
        if start_time is not None and not RFC3339.match(start_time):
            return _invalid_request({"start_time": [start_time]},
                                    f"Invalid 'start_time':'{start_time}'. 'start_time' must be "
                                    "a date time in ISO 8601/RFC 3339 format")
        with self._lock:
            if not any(u.id == user_id for u in self.users.values()):
                return Reply(200, {"errors": [_not_found("user", user_id)]})
            posts = [p for p in self.posts if p.user_id == user_id and not p.deleted]
        if "retweets" in query.get("exclude", "").split(","):
            posts = [p for p in posts if p.repost_of is None]
        newest = sorted(posts, key=lambda p: int(p.id), reverse=True)
        if since_id is not None:
            newest = [p for p in newest if int(p.id) > int(since_id)]
        if start_time is not None:
            earliest = datetime.fromisoformat(start_time.replace("Z", "+00:00")).timestamp()
            newest = [p for p in newest if p.created_at >= earliest]
        token = query.get("pagination_token")
        if token is not None:
            after = _decode_token(token)
            if after is None:
                return _invalid_request({"pagination_token": [token]},
                                        f"The `pagination_token` query parameter value [{token}] "
                                        "is not valid")
            newest = [p for p in newest if int(p.id) < after]
        page = newest[:int(raw)]
        if not page:
            return Reply(200, {"meta": {"result_count": 0}})
        fields = _fields(request)
        meta: dict[str, Any] = {"result_count": len(page), "newest_id": page[0].id,
                                "oldest_id": page[-1].id}
        if len(newest) > len(page):
            meta["next_token"] = _encode_token(int(page[-1].id))
        return Reply(200, {"data": [self._post_json(p, fields) for p in page], "meta": meta})

    def _post_json(self, post: XPost, fields: set[str]) -> dict[str, Any]:
        shown = self.shown(post)
        item: dict[str, Any] = {"id": post.id, "text": shown.text,
                                "edit_history_tweet_ids": [post.id]}
        if "created_at" in fields:
            item["created_at"] = iso_time(post.created_at)
        if "author_id" in fields:
            item["author_id"] = post.user_id
        if "entities" in fields and shown.urls:
            item["entities"] = {"urls": [dict(url) for url in shown.urls]}
        if "referenced_tweets" in fields and post.repost_of is not None:
            item["referenced_tweets"] = [{"type": "retweeted", "id": post.repost_of}]
        elif "referenced_tweets" in fields and post.reply_to is not None:
            item["referenced_tweets"] = [{"type": "replied_to", "id": post.reply_to}]
        if "attachments" in fields and post.media_ids:
            item["attachments"] = {"media_keys": [f"3_{media_id}"
                                                  for media_id in post.media_ids]}
        return item


# -- how X shows text -------------------------------------------------------------------------


def _wrap_links(post: XPost) -> Shown:
    """Replace each link twitter-text finds by the post's t.co link for it; escape the rest."""
    pieces: list[str] = []
    urls: list[dict[str, Any]] = []
    position = length = 0
    for found in extract_urls_with_indices(post.text):
        start, end = found["indices"]
        written = found["url"]
        tco = post.links.setdefault(written, _new_tco_link())
        before = post.text[position:start]
        pieces += [before, tco]
        length += len(before)
        urls.append({"start": length, "end": length + len(tco), "url": tco,
                     "expanded_url": written if SCHEME.match(written) else "http://" + written,
                     "display_url": _display_url(written)})
        length += len(tco)
        position = end
    pieces.append(post.text[position:])
    return Shown(html.escape("".join(pieces), quote=False), urls)


def _new_tco_link() -> str:
    return "https://t.co/" + "".join(secrets.choice(TCO_CHARACTERS) for _ in range(10))


def _display_url(written: str) -> str:
    shown = SCHEME.sub("", written)
    shown = shown[4:] if shown.lower().startswith("www.") else shown
    return shown if len(shown) <= DISPLAY_LENGTH else shown[:DISPLAY_LENGTH] + "…"


def iso_time(timestamp: float) -> str:
    """X's timestamps: 2026-11-24T07:00:00.000Z."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- answers ------------------------------------------------------------------------------------


def _problem(status: int, title: str, detail: str, type_: str = "about:blank",
             content_type: str = PROBLEM_JSON) -> Reply:
    body: dict[str, Any] = {"title": title, "detail": detail, "type": type_}
    if type_ == "about:blank":
        body["status"] = status
    return Reply(status, body, content_type=content_type)


def _invalid_request(parameters: dict[str, list[Any]], message: str) -> Reply:
    return Reply(400, {
        "errors": [{"parameters": parameters, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": INVALID_REQUEST,
    }, content_type=PROBLEM_JSON)


def _not_found(resource_type: str, resource_id: str) -> dict[str, str]:
    return {"value": resource_id,
            "detail": f"Could not find {resource_type} with id: [{resource_id}].",
            "title": "Not Found Error", "resource_type": resource_type, "parameter": "id",
            "resource_id": resource_id, "type": NOT_FOUND}


def _window_headers(remaining: int, reset_at: float) -> dict[str, str]:
    return {"x-rate-limit-limit": "100", "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(math.ceil(reset_at))}


def _capped(scope: str, reset_in: float) -> Reply:
    """The 24-hour limit of ``scope`` is spent; the other one and the 15-minute window are not."""
    now = time.time()
    reply = _problem(429, "Too Many Requests", "Too Many Requests")
    reply.headers.update(_window_headers(remaining=99, reset_at=now + WINDOW))
    for name in ("user", "app"):
        spent = name == scope
        reply.headers.update({
            f"x-{name}-limit-24hour-limit": "100" if name == "user" else "10000",
            f"x-{name}-limit-24hour-remaining": "0" if spent else "42",
            f"x-{name}-limit-24hour-reset": str(math.ceil(now + (reset_in if spent else DAY))),
        })
    return reply


def _usage_capped() -> Reply:
    reply = Reply(429, {"account_id": ACCOUNT_ID, "product_name": "standard-basic",
                        "title": "UsageCapExceeded", "period": "Monthly", "scope": "Product",
                        "detail": "Usage cap exceeded: Monthly product cap",
                        "type": USAGE_CAPPED}, content_type=JSON_UTF8)
    reply.headers.update(_window_headers(remaining=39999, reset_at=time.time() + WINDOW))
    reply.headers["x-rate-limit-limit"] = "40000"
    return reply


def _credits_depleted() -> Reply:
    return Reply(402, {"title": "CreditsDepleted",
                       "detail": f"Your enrolled account [{ACCOUNT_ID}] does not have any "
                                 "credits to fulfill this request.",
                       "type": CREDITS}, content_type=JSON_UTF8)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Server Error"


def _fields(request: Request) -> set[str]:
    return set(filter(None, request.query.get("tweet.fields", "").split(",")))


def _encode_token(post_id: int) -> str:
    """An opaque page token (X's are opaque too): where the next page starts."""
    return base64.b32encode(f"before:{post_id}".encode()).decode().rstrip("=").lower()


def _decode_token(token: str) -> int | None:
    try:
        text = base64.b32decode(token.upper() + "=" * (-len(token) % 8)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    kind, _, number = text.partition(":")
    return int(number) if kind == "before" and number.isdigit() else None


# -- OAuth 1.0a ----------------------------------------------------------------------------------

_OAUTH_PARAM = re.compile(r'\s*([A-Za-z0-9_.~-]+)\s*=\s*"([^"]*)"\s*(?:,|$)')


def parse_oauth_header(value: str) -> dict[str, str] | None:
    """The parameters of an ``OAuth`` Authorization header (RFC 5849 3.5.1), percent-decoded;
    None if the header is absent, of another scheme, or malformed. ``realm`` is dropped."""
    from urllib.parse import unquote

    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "oauth":
        return None
    params: dict[str, str] = {}
    rest, position = rest.strip(), 0
    while position < len(rest):
        match = _OAUTH_PARAM.match(rest, position)
        if match is None or match.end() == position:
            return None
        params[unquote(match[1])] = unquote(match[2])
        position = match.end()
    params.pop("realm", None)
    return params


# -- ids ---------------------------------------------------------------------------------------

_id_lock = threading.Lock()
_last_id = 0  # the last id handed out, across every FakeX in the process


def _next_id() -> str:
    """A snowflake-like id: milliseconds since X's epoch, shifted; always increasing."""
    global _last_id
    with _id_lock:
        _last_id = max(_last_id + 1, (int(time.time() * 1000) - TWITTER_EPOCH_MS) << 22)
        return str(_last_id)
