"""Mastodon through Mastodon.py, with an access token for one account on one instance.

How Mastodon answers, and what metpost makes of it (docs.joinmastodon.org: methods/statuses,
methods/accounts, api/rate-limits, api/guidelines, entities/Error, entities/Instance):

- ``POST /api/v1/statuses`` answers 200 with the Status. Its ``Idempotency-Key`` header is
  remembered for up to an hour ("Idempotency keys are stored for up to 1 hour"): a resend with
  the same key within it returns the status already made instead of a second one. metpost sends
  the post's idempotency key, so a post that may have gone out (no answer, a 5xx) is simply
  resent within the hour; after it, the post is first looked for among the account's statuses.
  But the key is stored only once the status is made (``PostStatusService`` checks it first
  and records it last): a resend while the first request is still being worked on makes a
  second status. So a post whose answer was lost is resent only after ``IN_FLIGHT_FOR``; within
  a run's deadline that is usually too late, and the post is left unknown for a rerun (or
  ``metpost retry``) to resend with the same key.
- Errors are ``{"error": "..."}`` and "the most important part of an error response is the
  HTTP status code": 401 a revoked or wrong token, 403 a disabled or unapproved login, 404
  "Record not found", 422 "Validation failed: ..." (text too long, blank), 429 the rate limit,
  503 a temporary problem; 502 and 504 come from the proxy in front, often as an HTML page.
- Rate limits: ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset``, the reset an ISO 8601
  time (Mastodon writes it with microseconds). Mastodon.py's default ``ratelimit_method="wait"``
  sleeps and resends by itself; metpost uses ``"throw"`` and waits (or not) on its own terms.
- Length: the instance's ``configuration.statuses.max_characters`` (500 unless the instance
  changes it, hence the account key ``max_characters``), counted in grapheme clusters, with every
  ``http(s)://`` link counting ``characters_reserved_per_url`` (23) and a mention of a remote
  account (``@user@instance``) counting as ``@user``.
- ``content`` is sanitised HTML (``<p>``, ``<br>``, ``<a>``, ``<span>``): paragraphs for blank
  lines, ``<br />`` for line breaks, each link's full address split over invisible spans, a
  remote mention shown as ``@user``. ``same_post`` compares it as text.
- ``GET /api/v1/accounts/:id/statuses`` lists newest first, 20 by default and 40 at most,
  older pages by ``max_id``. ``DELETE /api/v1/statuses/:id`` answers the deleted status; a
  status that is not (or no longer) there is 404.
- Threads: each part is a status with ``in_reply_to_id`` the part before (methods/statuses);
  a listed status says what it answers in ``in_reply_to_id``.
- Images (methods/media, entities/Instance): each is uploaded with Mastodon.py's
  ``media_post`` (``POST /api/v2/media``, the file and its ``description``, "a plain-text
  description of the media, for accessibility purposes"); images are processed synchronously
  since 4.0 and answer 200 with the attachment's ``id``, which the status names in
  ``media_ids[]``. An upload makes no status, so one that fails is tried again, and its id is
  used again for the same status's resend within the run. The instance's
  ``configuration.media_attachments`` sets the limits; the documented defaults are taken:
  ``max_media_attachments`` 4, ``image_size_limit`` 16,777,216 bytes, ``description_limit``
  1,500 characters (4.4), and ``supported_mime_types`` image/jpeg, png, gif, heic, heif, webp
  and avif.
- ``GET /api/v1/accounts/verify_credentials`` says whose the token is (``accounts verify``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cached_property, partial
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any, TypeVar

from metpost.platforms.api import (
    Capabilities,
    Identity,
    Media,
    Platform,
    PostRequest,
    PublishError,
    Receipt,
    RemotePost,
    TextLimits,
    comparable_text,
)
from metpost.platforms.clocks import on_our_clock
from metpost.platforms.graphemes import grapheme_count
from metpost.platforms.http import platform_clock_ahead, routed_session, transport_error

if TYPE_CHECKING:
    import mastodon
    import requests

DEFAULT_MAX_CHARACTERS = 500
URL_LENGTH = 23  # configuration.statuses.characters_reserved_per_url
IDEMPOTENCY_WINDOW = 3600.0  # seconds Mastodon keeps an Idempotency-Key
# Seconds a status request whose answer was lost may still be being made: a judgement (Mastodon
# sets no limit of its own; proxies in front commonly give up on a request after 60 s).
IN_FLIGHT_FOR = 60.0
PAGE_SIZE = 40  # the most GET /api/v1/accounts/:id/statuses returns at once
INSTANCE_ROOT = re.compile(r"https?://[^/\s]+/?")
POSITIVE_NUMBER = re.compile(r"[1-9][0-9]{0,6}")
# A mention of an account on another instance; Mastodon counts and shows it as @user alone.
REMOTE_MENTION = re.compile(
    r"(?<![=/\w])@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)@[\w.-]*\w", re.IGNORECASE)
T = TypeVar("T")


def countable_text(text: str) -> str:
    """``text`` as Mastodon counts it: each ``http(s)://`` link 23 characters long, each remote
    mention its local part."""
    import unicodedata

    from metpost.textrules import link_spans

    normalized = unicodedata.normalize("NFC", text)
    pieces, last = [], 0
    for span in link_spans(normalized):
        if span.url.lower().startswith(("http://", "https://")):  # bare domains stay text
            pieces += [normalized[last:span.start], "x" * URL_LENGTH]
            last = span.end
    pieces.append(normalized[last:])
    return REMOTE_MENTION.sub(r"@\1", "".join(pieces))


class _ContentText(HTMLParser):
    """The text of a status's sanitised HTML: paragraphs and line breaks kept as newlines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self._paragraphs = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.pieces.append("\n")
        elif tag == "p":
            if self._paragraphs:
                self.pieces.append("\n\n")
            self._paragraphs += 1

    def handle_data(self, data: str) -> None:
        self.pieces.append(data)


def content_text(content: str) -> str:
    """A status's HTML ``content`` as the text it shows (links in full, mentions as shown)."""
    parser = _ContentText()
    parser.feed(content)
    parser.close()
    return "".join(parser.pieces)


class MastodonPlatform(Platform):
    """Posts statuses with ``Mastodon.status_post``, one Idempotency-Key per post."""

    name = "mastodon"
    title = "Mastodon"
    ascii_credentials = True  # its access token goes into a header
    credential_keys = ("access_token",)
    account_fields = {"api_url": True, "max_characters": False}  # noqa: RUF012
    limit_field = "max_characters"
    destination_fields = {}  # noqa: RUF012 — the instance is the api_url
    limits = TextLimits(max_length=DEFAULT_MAX_CHARACTERS, unit="characters")
    capabilities = Capabilities(can_list_recent=True, can_delete=True, idempotent_publish=True,
                                idempotency_window=IDEMPOTENCY_WINDOW,
                                in_flight_for=IN_FLIGHT_FOR, threads=True,
                                can_verify=True, media=True, max_media=4,
                                media_types=("image/jpeg", "image/png", "image/gif",
                                             "image/heic", "image/heif", "image/webp",
                                             "image/avif"),
                                max_media_bytes=16_777_216, max_alt_length=1500)

    @classmethod
    def settings_problems(cls, settings: Mapping[str, str]) -> dict[str, str]:
        """api_url must be the instance's root; max_characters a whole number."""
        problems = {}
        api_url = settings.get("api_url")
        if api_url is not None and not INSTANCE_ROOT.fullmatch(api_url):
            problems["api_url"] = (f"'{api_url}' is not an instance's address: write its root, "
                                   "like https://mastodon.social, without /api")
        maximum = settings.get("max_characters")
        if maximum is not None and not POSITIVE_NUMBER.fullmatch(maximum):
            problems["max_characters"] = (f"'{maximum}' is not a number of characters; write "
                                          "the instance's limit, like \"500\"")
        return problems

    @classmethod
    def limits_for(cls, settings: Mapping[str, str]) -> TextLimits:
        """The instance's limit: the account's ``max_characters``, else Mastodon's 500."""
        maximum = settings.get("max_characters")
        if maximum is None or not POSITIVE_NUMBER.fullmatch(maximum):
            return cls.limits
        return TextLimits(max_length=int(maximum), unit=cls.limits.unit)

    @classmethod
    def length(cls, text: str) -> int:
        """Grapheme clusters, every link 23, remote mentions by their local part."""
        return grapheme_count(countable_text(text))

    # -- publishing ------------------------------------------------------------------------

    def publish(self, request: PostRequest) -> Receipt:
        """Post a status (POST /api/v1/statuses) with the post's Idempotency-Key, as a reply
        when it continues a thread, with its images uploaded first."""
        media_ids = [self._uploaded(request.idempotency_key, number, item)
                     for number, item in enumerate(request.media)] or None
        reply_to = request.reply_to.remote_id if request.reply_to else None
        status = self._call(lambda client: client.status_post(
            request.text, in_reply_to_id=reply_to, media_ids=media_ids,
            idempotency_key=request.idempotency_key), writing=True)
        remote_id = str(_field(status, "id") or "")
        if not remote_id:
            raise PublishError("Mastodon accepted the request but returned no status id",
                               maybe_posted=True)
        return Receipt(remote_id=remote_id, url=_field(status, "url") or _field(status, "uri"))

    def _uploaded(self, key: str, number: int, item: Media) -> str:
        """The attachment id of the post's image ``number``, uploaded once per run and used
        again when the status is resent."""
        uploads = self.__dict__.setdefault("_uploads", {})
        if (key, number) in uploads:
            return str(uploads[(key, number)])
        try:
            content = item.path.read_bytes()
        except OSError as error:
            raise PublishError(f"cannot read the image {item.path}: {error.strerror}") from None
        try:
            attachment = self._call(lambda client: client.media_post(
                content, mime_type=item.mime_type, description=item.alt_text or None,
                file_name=item.path.name))
        except PublishError as error:
            if error.maybe_posted:  # an answer lost: but an attachment alone is no status
                error.maybe_posted, error.retry_safe = False, True
            error.reason = f"{error.reason} (uploading an image; no status was made)"
            raise
        attachment_id = str(_field(attachment, "id") or "")
        if not attachment_id:
            raise PublishError("Mastodon took the image but returned no attachment id",
                               retry_safe=True)
        uploads[(key, number)] = attachment_id
        return attachment_id

    # -- who the credentials belong to ----------------------------------------------------

    def whoami(self) -> Identity:
        """The account the token belongs to (GET /api/v1/accounts/verify_credentials), as
        ``@user@instance`` (or ``@user`` when accounts.yaml writes the handle so)."""
        from urllib.parse import urlsplit

        account = self._call(lambda client: client.account_verify_credentials())
        username = str(_field(account, "username") or "")
        if not username:
            raise PublishError("Mastodon answered verify_credentials without a username")
        domain = urlsplit(str(_field(account, "url") or "")).hostname or urlsplit(
            self.destination.api_url or self.destination.settings.get("api_url", "")).hostname
        configured = (self.destination.handle or "").lstrip("@")
        handle = f"@{username}" if configured and "@" not in configured else (
            f"@{username}@{domain}" if domain else f"@{username}")
        return Identity(handle=handle, name=str(_field(account, "display_name") or "") or None)

    # -- finding a post --------------------------------------------------------------------

    def recent_posts(self, since: datetime, limit: int = 100) -> list[RemotePost]:
        """The account's statuses since ``since`` (GET /api/v1/accounts/:id/statuses), newest
        first, paging back by ``max_id`` until they are older."""
        account_id = self.account_id
        found: list[RemotePost] = []
        older_than: str | None = None
        while len(found) < limit:
            page = self._call(partial(_statuses, account_id=account_id, max_id=older_than,
                                      limit=min(PAGE_SIZE, limit - len(found))))
            listed = [self._remote_post(status) for status in page or ()]
            recent = [post for post in listed
                      if post.created_at is None or post.created_at >= since]
            found.extend(recent)
            if not listed or len(recent) < len(listed):
                break
            older_than = listed[-1].remote_id
        return found[:limit]

    def clock_ahead(self) -> float | None:
        """The instance's clock against ours, by its latest answer's ``Date``."""
        if "_client" not in self.__dict__:
            return None
        return platform_clock_ahead(self._client.session, self._root)

    def same_post(self, request: PostRequest, listed: RemotePost) -> bool:
        """The same text, with Mastodon's HTML read as text and remote mentions as ``@user``
        on both sides (one that Mastodon could not resolve stays as written)."""
        return comparable_text(REMOTE_MENTION.sub(r"@\1", request.text)) == comparable_text(
            REMOTE_MENTION.sub(r"@\1", listed.text))

    @cached_property
    def account_id(self) -> str:
        """The account's id (GET /api/v1/accounts/verify_credentials), asked once."""
        account = self._call(lambda client: client.account_verify_credentials())
        return str(_field(account, "id"))

    def _remote_post(self, status: Any) -> RemotePost:
        created = _field(status, "created_at")
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        if isinstance(created, datetime) and created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        answered = _field(status, "in_reply_to_id")
        return RemotePost(remote_id=str(_field(status, "id")),
                          text=content_text(str(_field(status, "content") or "")),
                          url=_field(status, "url") or _field(status, "uri"),
                          created_at=created if isinstance(created, datetime) else None,
                          reply_to=str(answered) if answered else None)

    # -- deleting --------------------------------------------------------------------------

    def delete(self, remote_id: str) -> None:
        """Delete a status (DELETE /api/v1/statuses/:id); one already gone counts as deleted."""
        try:
            self._call(lambda client: client.status_delete(remote_id), writing=True)
        except PublishError as error:
            if error.status != 404:
                raise

    # -- plumbing --------------------------------------------------------------------------

    def _call(self, request: Callable[[mastodon.Mastodon], T], *, writing: bool = False) -> T:
        """Run one API call, turning Mastodon.py's errors into PublishError. ``writing``: the
        call can change something, so a server error may mean it did."""
        import requests
        from mastodon import MastodonAPIError, MastodonNetworkError, MastodonRatelimitError

        self._last_response = None
        try:
            return request(self._client)
        except MastodonRatelimitError as error:
            raise self._rate_limited(error, writing) from None
        except MastodonNetworkError as error:
            # Mastodon.py wraps the requests exception in a message; the original says whether
            # the request ever left.
            cause = error.__context__
            if isinstance(cause, requests.RequestException):
                raise transport_error(cause, "Mastodon") from None
            raise PublishError(f"Mastodon could not be reached: {error}",
                               maybe_posted=writing, retry_safe=not writing) from None
        except MastodonAPIError as error:
            raise self._refusal(error, writing) from None

    def _rate_limited(self, error: Exception, writing: bool) -> PublishError:
        response = self._last_response
        if response is None or response.status_code != 429:
            # Mastodon.py also raises this when it cannot read a reset time, even on a success.
            return PublishError(f"Mastodon answered, but Mastodon.py could not read it: {error}",
                                maybe_posted=writing, retry_safe=not writing)
        return PublishError(f"Mastodon rate limit reached: {_words(response)}", retry_safe=True,
                            status=429, retry_at=_reset_at(response.headers),
                            problem="rate-limit")

    def _refusal(self, error: Exception, writing: bool) -> PublishError:
        arguments = error.args
        status = arguments[1] if len(arguments) > 1 and isinstance(arguments[1], int) else None
        if status is None:  # a 2xx whose body was not the JSON expected
            return PublishError(f"Mastodon answered with a body metpost cannot read: "
                                f"{arguments[0] if arguments else error}",
                                maybe_posted=writing, retry_safe=not writing)
        words = str(arguments[3]) if len(arguments) > 3 and arguments[3] else (
            f"{status} {arguments[2] if len(arguments) > 2 else ''}".strip())
        if status >= 500:
            return PublishError(f"Mastodon server error: {words}", status=status,
                                maybe_posted=writing, retry_safe=not writing)
        if status == 401:
            return PublishError(f"Mastodon refused the access token (revoked or wrong): "
                                f"{words}", status=status, problem="credentials")
        if status == 403:
            return PublishError(f"Mastodon refused: the account may not post: {words}",
                                status=status, problem="permission")
        if status == 422:
            return PublishError(f"Mastodon refused the post: {words}", status=status,
                                problem="invalid")
        return PublishError(f"Mastodon refused the request: {words}", status=status)

    @property
    def _root(self) -> str:
        """The instance's API root, where its session's adapter is mounted."""
        return (self.destination.api_url or self.destination.settings["api_url"]).rstrip("/")

    @cached_property
    def _client(self) -> mastodon.Mastodon:
        import requests
        from mastodon import Mastodon

        from metpost import __version__

        root = self._root
        session = requests.Session()
        session.hooks["response"].append(self._remember)
        routed_session(session, root, None, self.destination.timeouts)
        timeouts = self.destination.timeouts
        # "throw": Mastodon.py's default waits out a rate limit and resends by itself.
        return Mastodon(access_token=self.destination.credentials["access_token"],
                        api_base_url=root, ratelimit_method="throw", session=session,
                        request_timeout=max(timeouts.connect, timeouts.read),
                        version_check_mode="none", user_agent=f"metpost/{__version__}")

    def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if "_client" in self.__dict__:
            self._client.session.close()

    _last_response: requests.Response | None = None

    def _remember(self, response: requests.Response, **_: object) -> None:
        self._last_response = response


def _statuses(client: mastodon.Mastodon, account_id: str, max_id: str | None,
              limit: int) -> Any:
    """One page of an account's statuses, newest first."""
    return client.account_statuses(account_id, limit=limit, max_id=max_id)


def _field(item: Any, name: str) -> Any:
    """A field of a Mastodon.py result (a dict with attribute access)."""
    return item.get(name) if isinstance(item, dict) else getattr(item, name, None)


def _reset_at(headers: Mapping[str, str]) -> float | None:
    """``X-RateLimit-Reset`` (an ISO 8601 time) as Unix time on our clock."""
    value = headers.get("X-RateLimit-Reset")
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return on_our_clock((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp(),
                        headers)


def _words(response: requests.Response) -> str:
    """Mastodon's own words: the body's ``error``, else the status line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"].strip():
        return str(body["error"])
    return f"{response.status_code} {response.reason}"
