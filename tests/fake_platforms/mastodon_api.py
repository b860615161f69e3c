"""A fake Mastodon instance's REST API, as unkind as a real one: post, read, list, delete.

Routes: ``POST /api/v1/statuses``, ``GET /api/v1/statuses/:id``, ``DELETE /api/v1/statuses/:id``,
``GET /api/v1/accounts/verify_credentials``, ``GET /api/v1/accounts/:id/statuses`` and
``GET /api/v2/instance``. Shapes followed, and where each was found (docs.joinmastodon.org):

- Every request needs ``Authorization: Bearer TOKEN`` of a known account; otherwise 401
  ``{"error": "The access token is invalid"}`` (methods/statuses). Errors are ``{"error": ...}``
  (entities/Error): 404 "Record not found", 422 "Validation failed: ..." (``Text can't be
  blank``; ``Text character limit of 500 exceeded``).
- ``POST /api/v1/statuses`` takes form data (``status``) or JSON and answers 200 with a Status
  (entities/Status: ``id``, ``created_at`` ``2026-11-24T07:00:00.000Z``, ``content``, ``url``,
  ``uri``, ``account``, ``visibility``...). ``Idempotency-Key``: "Idempotency keys are stored for
  up to 1 hour"; within ``idempotency_ttl`` (3,600 s) a request with a key already used by the
  same account answers the status it made (as Mastodon's PostStatusService does), after it a
  new status is made. ``forget_idempotency_keys()`` makes the hour pass. As in
  PostStatusService, the key is looked up first and stored only once the status is made:
  ``slow_to_make_next()`` makes the next statuses take a while (a loaded instance), and a
  resend meanwhile makes a second status.
- ``content`` is sanitised HTML as Mastodon writes it (api/guidelines "Formatting"): a ``<p>``
  per paragraph (blank-line separated), ``<br />`` for a line break, ``&``, ``<``, ``>``, ``"``
  and ``'`` escaped, each ``http(s)://`` link an ``<a>`` whose text is split into an invisible
  ``https://`` span, a visible span (``ellipsis`` when cut after 30 characters) and an invisible
  rest; a mention of a known account ``<span class="h-card"><a class="u-url mention">@<span>user
  </span></a></span>`` (a remote one shown as ``@user`` too), an unknown one left as text;
  ``#tag`` a hashtag link.
- Length: ``max_characters`` (default 500) counted by the fake's own rule: each ``http(s)://``
  link 23, a remote mention by its local part, combining marks not counted.
- ``GET /api/v1/accounts/:id/statuses``: newest first, ``limit`` default 20, at most 40,
  ``max_id`` / ``since_id`` / ``min_id``; a ``Link`` header with ``next`` (``max_id``) and
  ``prev`` (``min_id``) (api/guidelines "Paginating"). Deleted statuses are gone from it.
- ``DELETE /api/v1/statuses/:id`` answers the deleted Status with its source ``text``; a status
  that is not there, or another account's, is 404.
- ``POST /api/v2/media`` (and the older ``/api/v1/media``), multipart ``file`` and
  ``description`` -> 200 MediaAttachment ``{id, type: "image", url, preview_url, description,
  meta, blurhash}`` (methods/media: images are processed synchronously since 4.0). The type is
  found in the file; one the instance does not support is 422 "Validation failed: File content
  type is invalid"; over ``image_size_limit`` (16,777,216) 422 "Validation failed: File file
  size must be less than 16 MB"; a description over 1,500 characters 422 "Validation failed:
  Description is too long (maximum is 1500 characters)" (entities/Instance
  ``configuration.media_attachments``). ``GET /api/v1/instance`` gives the version that
  Mastodon.py reads to choose the v2 upload.
- ``POST /api/v1/statuses`` takes ``media_ids[]`` (more than 4 is 422 "Validation failed: You
  can't attach more than 4 files"; an id that is not this account's unattached upload is left
  out without a word, as PostStatusService does) and ``in_reply_to_id`` (a status that is not
  there is 404); the Status names them in ``media_attachments`` and ``in_reply_to_id``.
- Rate limits (api/rate-limits): every answer has ``X-RateLimit-Limit`` (300),
  ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset``, an ISO 8601 time with microseconds, the
  end of the current five minutes.

Faults of Mastodon's own (besides those of ``FakeServer``, which act on POST and DELETE):

- ``rate_limit_next(n, reset_in)``: 429 ``{"error": "Too many requests"}`` with
  ``X-RateLimit-Remaining: 0`` and the reset ``reset_in`` seconds away.
- ``fail_next`` / ``post_then_fail_next(n, status)``: 503 is Mastodon's JSON ``{"error": "There
  was a temporary problem serving your request, please try again"}``; 500 Rails' HTML error
  page; 502 and 504 the HTML page of the nginx in front (text/html, not JSON).
"""

from __future__ import annotations

import html
import itertools
import math
import re
import time
import unicodedata
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from tests.fake_platforms.images import sniffed_type
from tests.fake_platforms.server import FakeServer, Reply, Request

INVALID_TOKEN = "The access token is invalid"
NOT_FOUND = "Record not found"
TOO_MANY = "Too many requests"
WINDOW = 300  # seconds: 300 requests per 5 minutes per account
URL_LENGTH = 23
DISPLAY_LENGTH = 30
LINK = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,:;!?'\")\]]")
MENTION = re.compile(r"(?<![\w/=])@([a-z0-9_]+)(?:@([a-z0-9.-]+\.[a-z]+))?", re.IGNORECASE)
HASHTAG = re.compile(r"(?<![\w/&])#(\w+)")
ENTITY = re.compile(f"{LINK.pattern}|{MENTION.pattern}|{HASHTAG.pattern}", re.IGNORECASE)
NGINX_PAGE = ("<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n<center><h1>"
              "{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
              "</html>\r\n")
RAILS_PAGE = ("<!DOCTYPE html>\n<html>\n<head>\n  <title>We're sorry, but something went wrong"
              " (500)</title>\n</head>\n<body>\n  <h1>We're sorry, but something went wrong."
              "</h1>\n</body>\n</html>\n")
TEMPORARY = "There was a temporary problem serving your request, please try again"
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/heic", "image/heif",
                         "image/webp", "image/avif"})
IMAGE_SIZE_LIMIT = 16_777_216
DESCRIPTION_LIMIT = 1500

_status_numbers = itertools.count(113_000_000_000_000_001)


@dataclass
class MastodonAccount:
    """An account of the instance, and the token that acts for it."""

    id: str
    username: str
    token: str


@dataclass
class Status:
    """A stored status; ``text`` as it was sent (tests may change ``created_at`` freely)."""

    id: str
    account_id: str
    text: str
    created_at: float  # epoch seconds
    deleted: bool = False
    reply_to: str | None = None
    media_ids: tuple[str, ...] = ()


@dataclass
class Attachment:
    """An uploaded media attachment: whose, its bytes and type, its description, and the
    status it is attached to (None until a status takes it)."""

    id: str
    account_id: str
    data: bytes
    mime_type: str
    description: str | None
    status_id: str | None = None


class FakeMastodon(FakeServer):
    """A Mastodon instance on 127.0.0.1 (see the module docstring for what it answers)."""

    def __init__(self, latency: float = 0.0, domain: str = "social.example") -> None:
        super().__init__(latency)
        self.domain = domain
        self.accounts: dict[str, MastodonAccount] = {}  # by token
        self.remote_accounts: set[str] = set()  # "user@instance" that mentions resolve to
        self.statuses: list[Status] = []
        self.revoked: set[str] = set()
        self.max_characters = 500
        self.idempotency_ttl = 3600.0
        self._keys: dict[tuple[str, str], tuple[str, float]] = {}  # -> (status id, stored at)
        self.attachments: dict[str, Attachment] = {}
        self._window_counts: dict[tuple[str, int], int] = {}
        self._making_delays: deque[float] = deque()  # seconds the next statuses take to make

    # -- set-up and inspection ---------------------------------------------------------------

    def add_account(self, account_id: str, username: str, token: str) -> None:
        """Know an account, acted for by ``token``."""
        with self._lock:
            self.accounts[token] = MastodonAccount(str(account_id), username, token)

    def revoke(self, token: str) -> None:
        """From now on, requests with ``token`` get 401."""
        with self._lock:
            self.revoked.add(token)

    def slow_to_make_next(self, n: int = 1, seconds: float = 3.0) -> None:
        """The next ``n`` status requests take ``seconds`` between the Idempotency-Key look-up
        and the status being made (and the key stored)."""
        with self._lock:
            self._making_delays.extend([seconds] * n)

    def forget_idempotency_keys(self) -> None:
        """Let the hour pass: every Idempotency-Key is forgotten, as Redis expires them."""
        with self._lock:
            self._keys.clear()

    def live_statuses(self, username: str | None = None) -> list[Status]:
        """Statuses not deleted, oldest first: everyone's, or one account's."""
        with self._lock:
            ids = {a.id for a in self.accounts.values() if username in (None, a.username)}
            return [s for s in self.statuses if not s.deleted and s.account_id in ids]

    # -- the API -----------------------------------------------------------------------------

    def route(self, request: Request) -> Reply:
        """Authorise, then dispatch on method and path."""
        account = self._authorise(request)
        if account is None:
            return Reply(401, {"error": INVALID_TOKEN})
        reply = self._dispatch(account, request)
        reply.headers.update(self._window_headers(account))
        return reply

    def _dispatch(self, account: MastodonAccount, request: Request) -> Reply:
        parts = request.path.rstrip("/").split("/")[1:]
        match request.method, parts:
            case "POST", ["api", "v1", "statuses"]:
                return self._create(account, request)
            case "GET", ["api", "v1", "statuses", status_id]:
                found = self._find(status_id)
                return Reply(200, self.status_json(found)) if found else _not_found()
            case "DELETE", ["api", "v1", "statuses", status_id]:
                return self._delete(account, status_id)
            case "GET", ["api", "v1", "accounts", "verify_credentials"]:
                return Reply(200, {**self._account_json(account), "source": {
                    "privacy": "public", "sensitive": False, "language": "", "note": "",
                    "fields": []}})
            case "GET", ["api", "v1", "accounts", account_id, "statuses"]:
                return self._timeline(account_id, request)
            case "POST", ["api", "v2" | "v1", "media"]:
                return self._upload(account, request)
            case "GET", ["api", "v1", "instance"]:
                return Reply(200, {"uri": self.domain, "title": "Fake", "version": "4.5.0",
                                   "configuration": {"statuses": {
                                       "max_characters": self.max_characters,
                                       "max_media_attachments": 4}}})
            case "GET", ["api", "v2", "instance"]:
                return Reply(200, {"domain": self.domain, "title": "Fake", "version": "4.5.0",
                                   "api_versions": {"mastodon": 6},
                                   "configuration": {"statuses": {
                                       "max_characters": self.max_characters,
                                       "max_media_attachments": 4,
                                       "characters_reserved_per_url": URL_LENGTH},
                                       "media_attachments": {
                                           "description_limit": DESCRIPTION_LIMIT,
                                           "image_size_limit": IMAGE_SIZE_LIMIT,
                                           "supported_mime_types": sorted(IMAGE_TYPES)}}})
        return _not_found()

    def error_reply(self, status: int) -> Reply:
        """503 in Mastodon's JSON; 500 Rails' page; 502 and 504 nginx's page."""
        if status == 503:
            return Reply(503, {"error": TEMPORARY})
        if status == 500:
            return Reply(500, RAILS_PAGE.encode(), content_type="text/html; charset=UTF-8")
        phrase = {502: "Bad Gateway", 504: "Gateway Time-out"}.get(status, "Server Error")
        page = NGINX_PAGE.format(status=status, phrase=phrase)
        return Reply(status, page.encode(), content_type="text/html")

    def rate_limit_reply(self, reset_in: float) -> Reply:
        """429 with X-RateLimit-Remaining 0 and an ISO 8601 reset time."""
        return Reply(429, {"error": TOO_MANY}, headers={
            "X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": _iso_reset(self.now() + reset_in)})

    def _authorise(self, request: Request) -> MastodonAccount | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            account = self.accounts.get(token.strip())
            if scheme.lower() != "bearer" or account is None or token.strip() in self.revoked:
                return None
            return account

    def _window_headers(self, account: MastodonAccount) -> dict[str, str]:
        now = time.time()
        window = int(now // WINDOW)
        with self._lock:
            count = self._window_counts.get((account.id, window), 0) + 1
            self._window_counts[(account.id, window)] = count
        return {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": str(max(0, 300 - count)),
                "X-RateLimit-Reset": _iso_reset((window + 1) * WINDOW)}

    def _create(self, account: MastodonAccount, request: Request) -> Reply:
        text = _status_text(request)
        key = request.headers.get("idempotency-key")
        reply_to, media_ids = _status_links(request)
        with self._lock:
            if key:
                known = self._keys.get((account.id, key))
                if known and time.time() - known[1] < self.idempotency_ttl:
                    found = self._find(known[0])
                    return Reply(200, self.status_json(found)) if found else _not_found()
            delay = self._making_delays.popleft() if self._making_delays else 0.0
        time.sleep(delay)  # the key is not yet stored: a request meanwhile finds none
        with self._lock:
            if len(media_ids) > 4:
                return Reply(422, {"error": "Validation failed: You can't attach more than 4 "
                                            "files"})
            if reply_to is not None and self._find(reply_to) is None:
                return _not_found()
            attached = tuple(media_id for media_id in media_ids
                             if (item := self.attachments.get(media_id)) is not None
                             and item.account_id == account.id and item.status_id is None)
            if (not text or not text.strip()) and not attached:
                return Reply(422, {"error": "Validation failed: Text can't be blank"})
            if countable_length(text or "") > self.max_characters:
                return Reply(422, {"error": "Validation failed: Text character limit of "
                                            f"{self.max_characters} exceeded"})
            status = Status(str(next(_status_numbers)), account.id, text or "", self.now(),
                            reply_to=reply_to, media_ids=attached)
            for media_id in attached:
                self.attachments[media_id].status_id = status.id
            self.statuses.append(status)
            if key:
                self._keys[(account.id, key)] = (status.id, time.time())
        return Reply(200, self.status_json(status))

    def _upload(self, account: MastodonAccount, request: Request) -> Reply:
        fields = request.multipart()
        upload = fields.get("file")
        description = fields["description"].text if "description" in fields else None
        mime_type = sniffed_type(upload.data) if upload is not None else None
        if upload is None or mime_type not in IMAGE_TYPES:
            return Reply(422, {"error": "Validation failed: File content type is invalid"})
        if len(upload.data) > IMAGE_SIZE_LIMIT:
            return Reply(422, {"error": "Validation failed: File file size must be less than "
                                        "16 MB"})
        if description is not None and len(description) > DESCRIPTION_LIMIT:
            return Reply(422, {"error": "Validation failed: Description is too long (maximum "
                                        f"is {DESCRIPTION_LIMIT} characters)"})
        with self._lock:
            item = Attachment(str(next(_status_numbers)), account.id, upload.data, mime_type,
                              description)
            self.attachments[item.id] = item
        return Reply(200, self._attachment_json(item))

    def _attachment_json(self, item: Attachment) -> dict[str, Any]:
        files = f"https://files.{self.domain}/media_attachments/files/{item.id}"
        return {"id": item.id, "type": "image", "url": f"{files}/original/image",
                "preview_url": f"{files}/small/image", "remote_url": None,
                "text_url": None, "meta": {"original": {"width": 1, "height": 1}},
                "description": item.description, "blurhash": "UFBWY:8_0Jxv4mx]t8t64.%M-:IUWGWAt6M}"}

    def status_attachments(self, status: Status) -> list[Attachment]:
        """The media a status carries, in order."""
        with self._lock:
            return [self.attachments[media_id] for media_id in status.media_ids]

    def _find(self, status_id: str) -> Status | None:
        with self._lock:
            return next((s for s in self.statuses if s.id == status_id and not s.deleted), None)

    def _delete(self, account: MastodonAccount, status_id: str) -> Reply:
        with self._lock:
            found = self._find(status_id)
            if found is None or found.account_id != account.id:
                return _not_found()
            found.deleted = True
        return Reply(200, {**self.status_json(found), "text": found.text})

    def _timeline(self, account_id: str, request: Request) -> Reply:
        query = request.query
        limit = min(40, int(query["limit"])) if query.get("limit", "").isdigit() else 20
        with self._lock:
            if not any(a.id == account_id for a in self.accounts.values()):
                return _not_found()
            listed = sorted((s for s in self.statuses
                             if s.account_id == account_id and not s.deleted),
                            key=lambda s: int(s.id), reverse=True)
        for name, keep in (("max_id", lambda s, v: int(s.id) < v),
                           ("since_id", lambda s, v: int(s.id) > v)):
            if query.get(name, "").isdigit():
                listed = [s for s in listed if keep(s, int(query[name]))]
        if query.get("min_id", "").isdigit():
            listed = sorted((s for s in listed if int(s.id) > int(query["min_id"])),
                            key=lambda s: int(s.id))[:limit][::-1]
        page = listed[:limit]
        headers = {}
        if page:
            base = f"{self.url}/api/v1/accounts/{account_id}/statuses"
            headers["Link"] = (f'<{base}?{urlencode({"limit": limit, "max_id": page[-1].id})}>; '
                               f'rel="next", <{base}?{urlencode({"min_id": page[0].id})}>; '
                               'rel="prev"')
        return Reply(200, [self.status_json(s) for s in page], headers=headers)

    # -- how Mastodon shows a status ------------------------------------------------------------

    def status_json(self, status: Status) -> dict[str, Any]:
        """The Status entity of ``status``."""
        with self._lock:
            account = next(a for a in self.accounts.values() if a.id == status.account_id)
        return {
            "id": status.id, "created_at": _iso(status.created_at),
            "in_reply_to_id": status.reply_to,
            "in_reply_to_account_id": account.id if status.reply_to else None,
            "sensitive": False, "spoiler_text": "",
            "visibility": "public", "language": "en",
            "uri": f"https://{self.domain}/users/{account.username}/statuses/{status.id}",
            "url": f"https://{self.domain}/@{account.username}/{status.id}",
            "replies_count": 0, "reblogs_count": 0, "favourites_count": 0, "edited_at": None,
            "content": self.content_html(status.text), "reblog": None,
            "application": {"name": "metpost", "website": None},
            "account": self._account_json(account), "mentions": [],
            "media_attachments": [self._attachment_json(self.attachments[media_id])
                                  for media_id in status.media_ids],
            "tags": [], "emojis": [], "card": None, "poll": None,
        }

    def _account_json(self, account: MastodonAccount) -> dict[str, Any]:
        return {"id": account.id, "username": account.username, "acct": account.username,
                "display_name": account.username, "locked": False, "bot": True,
                "created_at": "2026-01-01T00:00:00.000Z", "note": "",
                "url": f"https://{self.domain}/@{account.username}", "avatar": "",
                "avatar_static": "", "header": "", "header_static": "", "followers_count": 0,
                "following_count": 0, "statuses_count": 0, "last_status_at": None,
                "emojis": [], "fields": []}

    def content_html(self, text: str) -> str:
        """``text`` as Mastodon renders it: paragraphs, line breaks, links, mentions, tags."""
        paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
        return "".join(f"<p>{self._inline(p).replace(chr(10), '<br />')}</p>"
                       for p in paragraphs)

    def _inline(self, text: str) -> str:
        pieces, last = [], 0
        for match in ENTITY.finditer(text):
            pieces += [_escape(text[last:match.start()]), self._entity(match.group(0))]
            last = match.end()
        pieces.append(_escape(text[last:]))
        return "".join(pieces)

    def _entity(self, written: str) -> str:
        if LINK.fullmatch(written):
            scheme, _, rest = written.partition("://")
            shown, hidden = rest[:DISPLAY_LENGTH], rest[DISPLAY_LENGTH:]
            return (f'<a href="{_escape(written)}" target="_blank" rel="nofollow noopener" '
                    f'translate="no"><span class="invisible">{scheme}://</span><span class="'
                    f'{"ellipsis" if hidden else ""}">{_escape(shown)}</span><span class='
                    f'"invisible">{_escape(hidden)}</span></a>')
        mention = MENTION.fullmatch(written)
        if mention:
            user, instance = mention.group(1), mention.group(2)
            with self._lock:
                local = {a.username.lower() for a in self.accounts.values()}
                known = (instance is None and user.lower() in local) or (
                    instance is not None and f"{user}@{instance}".lower() in
                    {name.lower() for name in self.remote_accounts})
            if not known:
                return _escape(written)
            profile = f"https://{instance or self.domain}/@{user}"
            return (f'<span class="h-card" translate="no"><a href="{profile}" class="u-url '
                    f'mention">@<span>{_escape(user)}</span></a></span>')
        tag = written[1:]
        return (f'<a href="https://{self.domain}/tags/{tag.lower()}" class="mention hashtag" '
                f'rel="tag">#<span>{_escape(tag)}</span></a>')


def countable_length(text: str) -> int:
    """The fake's own count: links 23, remote mentions by their local part, combining marks
    and joiners not counted."""
    counted = LINK.sub("x" * URL_LENGTH, text)
    counted = MENTION.sub(lambda match: "@" + match.group(1), counted)
    return sum(1 for char in unicodedata.normalize("NFC", counted)
               if not unicodedata.combining(char) and char not in "\u200d\ufe0f")


def _status_links(request: Request) -> tuple[str | None, list[str]]:
    """The status it answers and the media ids it names, from form data or JSON."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = request.json()
        except ValueError:
            return None, []
        if not isinstance(body, dict):
            return None, []
        reply_to = body.get("in_reply_to_id")
        return (str(reply_to) if reply_to else None,
                [str(media_id) for media_id in body.get("media_ids") or []])
    form = request.form_lists()
    reply_to = (form.get("in_reply_to_id") or [None])[0]
    return reply_to or None, form.get("media_ids[]", [])


def _status_text(request: Request) -> str | None:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = request.json()
        except ValueError:
            return None
        return body.get("status") if isinstance(body, dict) else None
    return request.form().get("status")


def _escape(text: str) -> str:
    return html.escape(text, quote=True).replace("&#x27;", "&#39;")


def _not_found() -> Reply:
    return Reply(404, {"error": NOT_FOUND})


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _iso_reset(timestamp: float) -> str:
    """Mastodon's reset time: ISO 8601 with microseconds (Ruby's iso8601(6))."""
    moment = datetime.fromtimestamp(math.ceil(timestamp * 1e6) / 1e6, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
