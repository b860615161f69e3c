"""X (Twitter) through tweepy's API v2 client, OAuth 1.0a user context.

How X answers, and what metpost makes of it (sources: docs.x.com "Response codes and errors",
"Rate limits", "Manage Posts" and "Timelines" API references):

- ``POST /2/tweets`` answers 201 with ``data.id``. A 5xx can arrive after X made the post, so it
  counts as *maybe posted*: the post is looked for before any resend.
- 403 "You are not allowed to create a Tweet with duplicate content." means an identical post is
  live on the account: evidence that an earlier attempt went out.
- 429 is a rate limit with ``x-rate-limit-reset`` (Unix seconds). When the 24-hour post caps
  are exhausted, ``x-user-limit-24hour-remaining`` or ``x-app-limit-24hour-remaining`` is 0 and
  ``...-reset`` says when they refill; that cannot pass within a broadcast, so the post fails
  with the time, and an app-wide cap holds every account of that app. A ``usage-capped`` problem
  (the project's monthly cap) and 402 (pay-per-use credits depleted) fail the same way.
- Listings (``GET /2/users/:id/tweets``) show every link as a t.co link; with
  ``tweet.fields=entities`` each has ``expanded_url``, the address the author wrote (with
  ``http://`` put before a bare domain). ``&``, ``<`` and ``>`` come back as HTML entities.
- ``DELETE /2/tweets/:id`` answers ``{"data": {"deleted": true|false}}``; ``false`` is checked
  with ``GET /2/tweets/:id`` before a post counts as gone.
- An OAuth 1.0a access token starts with the numeric id of the user it belongs to
  (``12345-abc...``), so listing needs no ``GET /2/users/me`` call (25 a day on the free tier).
- Threads: each part is ``POST /2/tweets`` with ``reply.in_reply_to_tweet_id`` the part before
  (OpenAPI ``CreatePostsReply``); a listing names what a post answers in ``referenced_tweets``
  (``replied_to``).
- Images (docs.x.com "Media upload" best practices and introduction, OpenAPI 2.167
  ``MediaUploadRequest``, ``CreateMediaMetadataRequest``, ``CreatePostsMedia``): up to 4 photos
  a post; JPG, PNG, GIF or WEBP; at most 5 MB an image (X's answer to a bigger one has said
  "Image file size must be <= 5242880 bytes"). tweepy's Client cannot upload, so metpost posts
  each file itself to ``POST /2/media/upload`` (multipart: ``media`` and ``media_category``
  ``tweet_image``), signed with the account's OAuth 1.0a credentials (requests_oauthlib, as
  tweepy signs), and gets ``data.id``; the alt text (at most 1,000 characters) goes to
  ``POST /2/media/metadata`` as ``{"id", "metadata": {"alt_text": {"text"}}}``; the post names
  the ids in ``media.media_ids``. An upload makes no post, so a failed one is safe to try
  again, and an id is used again for the same post's resend within the run (ids last a day).
  Listed, a post with images has one more t.co link at the end of its text, whose URL entity
  carries a ``media_key``: it is not part of what was written, and is left out when comparing.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from metpost.platforms.api import (
    Capabilities,
    Identity,
    Media,
    Platform,
    PostRequest,
    PublishError,
    Receipt,
    RemoteLink,
    RemotePost,
    TextLimits,
    comparable_text,
)
from metpost.platforms.clocks import on_our_clock
from metpost.platforms.graphemes import shows_nothing
from metpost.platforms.http import (
    platform_clock_ahead,
    redirect_refusal,
    routed_session,
    transport_error,
)

if TYPE_CHECKING:
    import requests
    import tweepy

X_ORIGIN = "https://api.twitter.com"
MEDIA_UPLOAD = "/2/media/upload"
MEDIA_METADATA = "/2/media/metadata"
DUPLICATE_DETAIL = "duplicate content"
USER_ID_IN_TOKEN = re.compile(r"([0-9]+)-")
T = TypeVar("T")


def link_target(url: str) -> str:
    """A link's address in a form two spellings of it share: no scheme, host in lower case,
    no trailing slash (X adds ``http://`` to a bare domain; people write either)."""
    without_scheme = re.sub(r"(?i)^https?://", "", url.strip())
    host, slash, rest = without_scheme.partition("/")
    return (host.lower() + slash + rest).rstrip("/")


# The last second a reset header can name and still be a time (9999-12-31T23:59:59Z): a larger
# number is a broken header, taken as a limit without a time, not a date no clock can show.
LAST_EPOCH = 253_402_300_799


def _epoch(value: str | None) -> float | None:
    if not value or not value.isascii() or not value.isdigit() or int(value) > LAST_EPOCH:
        return None
    return float(value)


class XPlatform(Platform):
    """Posts with ``tweepy.Client.create_tweet``; length is X's weighted count."""

    name = "x"
    title = "X"
    credential_keys = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
    destination_fields = {}  # noqa: RUF012 — the handle says where
    limits = TextLimits(max_length=280, unit="weighted characters")
    capabilities = Capabilities(can_list_recent=True, can_delete=True, threads=True,
                                reposts=True, can_verify=True, media=True, max_media=4,
                                media_types=("image/jpeg", "image/png", "image/gif",
                                             "image/webp"),
                                max_media_bytes=5_242_880, max_alt_length=1000)
    permanent_statuses: ClassVar[dict[int, str]] = {
        400: "X refused the request as invalid",
        401: "X refused the credentials (revoked or wrong keys)",
        402: "X refused the post: the app's pay-per-use credits are used up",
        403: "X refused the post",
        404: "X does not know this post or endpoint",
    }

    @classmethod
    def length(cls, text: str) -> int:
        """X's weighted length (URLs 23, emoji and CJK 2)."""
        from metpost.textrules import weighted_length

        return weighted_length(text)

    @classmethod
    def check(cls, text: str, settings: Mapping[str, str] | None = None) -> list[str]:
        """The usual checks, and none of the characters X refuses in a post (U+FEFF, U+FFFE,
        U+FFFF: twitter-text's invalid characters), which the length alone lets through."""
        from metpost.textrules import invalid_characters

        problems = super().check(text, settings)
        refused = invalid_characters(text)
        if refused and not shows_nothing(text):
            # First: a thread's advice is added to the last problem, the length.
            problems.insert(0, f"the text holds {_described(refused)}, which X refuses in a "
                               f"post; remove {'it' if len(refused) == 1 else 'them'} from "
                               "the template or --var")
        return problems

    # -- publishing ------------------------------------------------------------------------

    def publish(self, request: PostRequest) -> Receipt:
        """Create a post (POST /2/tweets), as a reply when the request continues a thread, or
        repost one (POST /2/users/:id/retweets) when the request says so."""
        if request.repost_of is not None:
            return self._repost(request.repost_of)
        reply_to = request.reply_to.remote_id if request.reply_to else None
        media_ids = [self._uploaded(request.idempotency_key, number, item)
                     for number, item in enumerate(request.media)] or None
        response = self._call(lambda client: client.create_tweet(
            text=request.text, in_reply_to_tweet_id=reply_to, media_ids=media_ids,
            user_auth=True), writing=True)
        data = response.data or {}
        remote_id = str(data.get("id", ""))
        if not remote_id:
            raise PublishError("X accepted the request but returned no post id",
                               maybe_posted=True)
        return Receipt(remote_id=remote_id, url=self.post_url(remote_id))

    def _uploaded(self, key: str, number: int, item: Media) -> str:
        """The media id of the post's image ``number``: uploaded (and described) once per run,
        and the same id used again when the post is resent."""
        uploads = self.__dict__.setdefault("_uploads", {})
        media_id = uploads.get((key, number))
        if media_id is None:
            media_id = self._upload(item)
            uploads[(key, number)] = media_id
        described = self.__dict__.setdefault("_described", set())
        if item.alt_text and media_id not in described:
            self._media_request(MEDIA_METADATA, "describe an image", json={
                "id": media_id, "metadata": {"alt_text": {"text": item.alt_text}}})
            described.add(media_id)
        return media_id

    def _upload(self, item: Media) -> str:
        """POST /2/media/upload: the file, as a Post's image; its media id."""
        try:
            content = item.path.read_bytes()
        except OSError as error:
            raise PublishError(f"cannot read the image {item.path}: {error.strerror}") from None
        body = self._media_request(MEDIA_UPLOAD, "upload an image", files={
            "media": (item.path.name, content, item.mime_type)},
            data={"media_category": "tweet_image"})
        media_id = str((body.get("data") or {}).get("id") or "")
        if not media_id.isdigit():
            raise PublishError("X accepted the image but returned no media id", retry_safe=True)
        return media_id

    def _media_request(self, path: str, doing: str, **sending: Any) -> dict[str, Any]:
        """One media call, signed as tweepy signs (OAuth 1.0a, user context). Nothing it does
        makes a post, so every failure short of a refusal is safe to try again."""
        import requests
        from requests_oauthlib import OAuth1

        credentials = self.destination.credentials
        auth = OAuth1(credentials["consumer_key"], credentials["consumer_secret"],
                      credentials["access_token"], credentials["access_token_secret"])
        try:
            response = self._client.session.post(X_ORIGIN + path, auth=auth, **sending)
        except requests.TooManyRedirects as error:
            raise PublishError(f"{redirect_refusal(error, 'X')} (to {doing}); no post was made",
                               retry_safe=True) from None
        except requests.RequestException as error:
            raise PublishError(f"X could not be reached to {doing} ({type(error).__name__}); "
                               "no post was made", retry_safe=True) from None
        if response.status_code == 429:
            raise self._too_many(response)
        if response.status_code >= 300:
            refusal = self._refusal(response, writing=False)
            refusal.reason = f"{refusal.reason} (to {doing})"
            raise refusal
        try:
            body = response.json()
        except ValueError:
            raise PublishError(f"X answered HTTP {response.status_code} with a body that is not "
                               f"JSON (to {doing})", retry_safe=True) from None
        return body if isinstance(body, dict) else {}

    def _repost(self, original: Receipt) -> Receipt:
        """Repost ``original`` as this account. X answers ``{"data": {"retweeted": true,
        "rest_id": ...}}``, ``rest_id`` being the repost's own id; reposting a post already
        reposted answers the same and makes nothing new."""
        response = self._call(lambda client: client.retweet(original.remote_id, user_auth=True),
                              writing=True)
        data = response.data or {}
        if data.get("retweeted") is not True:
            raise PublishError(f"X did not repost {original.url or original.remote_id}",
                               maybe_posted=True)
        remote_id = str(data.get("rest_id") or "")
        if not remote_id:  # the repost exists, but only the account's listing names it
            raise PublishError("X reposted the post but returned no id for the repost",
                               maybe_posted=True)
        return Receipt(remote_id=remote_id, url=self.post_url(remote_id))

    # -- who the credentials belong to ----------------------------------------------------

    def whoami(self) -> Identity:
        """The user the access token belongs to (GET /2/users/me), as ``@username``."""
        me = self._call(lambda client: client.get_me(user_auth=True))
        if me.data is None:
            raise PublishError(f"X answered GET /2/users/me without a user: {me.errors}")
        return Identity(handle="@" + str(me.data.username), name=str(me.data.name))

    # -- finding a post --------------------------------------------------------------------

    def recent_posts(self, since: datetime, limit: int = 100) -> list[RemotePost]:
        """The account's posts since ``since`` (GET /2/users/:id/tweets), paging as needed."""
        user_id = self.user_id
        found: list[RemotePost] = []
        token: str | None = None
        start = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        while len(found) < limit:
            page_size = max(5, min(100, limit - len(found)))  # X takes 5 to 100
            page = partial(_users_tweets, user_id=user_id, max_results=page_size,
                           start_time=start, pagination_token=token)
            response = self._call(page)
            found.extend(self._remote_post(tweet) for tweet in response.data or ())
            token = (response.meta or {}).get("next_token")
            if not token or not response.data:
                break
        return found[:limit]

    def clock_ahead(self) -> float | None:
        """X's clock against ours, by its latest answer's ``Date``."""
        if "_client" not in self.__dict__:
            return None
        return platform_clock_ahead(self._client.session, X_ORIGIN)

    def same_post(self, request: PostRequest, listed: RemotePost) -> bool:
        """The same text once X's rewriting is undone: entities unescaped, and every link,
        ours as written and theirs as t.co, compared by where it leads. A repost is the same
        as a listed repost of the same post."""
        import html  # (only here: X lists texts with &amp; and the like)

        from metpost.textrules import link_spans

        if request.repost_of is not None or listed.repost_of is not None:
            return super().same_post(request, listed)

        ours = comparable_text(request.text)
        pieces, last = [], 0
        for span in link_spans(ours):
            pieces += [ours[last:span.start], f"\x00{link_target(span.url)}\x00"]
            last = span.end
        ours_linked = "".join([*pieces, ours[last:]])
        theirs = html.unescape(listed.text)
        for link in sorted(listed.links, key=lambda link: len(link.url), reverse=True):
            theirs = theirs.replace(link.url, f"\x00{link_target(link.target)}\x00")
        return ours_linked == comparable_text(theirs)

    @cached_property
    def user_id(self) -> str:
        """The account's numeric id: the access token's prefix, else one GET /2/users/me."""
        match = USER_ID_IN_TOKEN.match(self.destination.credentials.get("access_token", ""))
        if match:
            return match.group(1)
        me = self._call(lambda client: client.get_me(user_auth=True))
        return str(me.data.id)

    def _remote_post(self, tweet: tweepy.Tweet) -> RemotePost:
        entities = getattr(tweet, "entities", None) or {}
        urls = [item for item in entities.get("urls", ()) if isinstance(item, dict)
                and item.get("url")]
        links = tuple(RemoteLink(url=str(item["url"]),
                                 target=str(item.get("expanded_url") or item["url"]))
                      for item in urls if not item.get("media_key"))
        text = str(tweet.text)
        for item in urls:  # the link X adds to a post's images was not written by anyone
            if item.get("media_key"):
                text = text.replace(str(item["url"]), "").rstrip()
        references = getattr(tweet, "referenced_tweets", None) or ()
        reposted = next((str(ref.id) for ref in references
                         if getattr(ref, "type", None) == "retweeted"), None)
        answered = next((str(ref.id) for ref in references
                         if getattr(ref, "type", None) == "replied_to"), None)
        return RemotePost(remote_id=str(tweet.id), text=text,
                          url=self.post_url(str(tweet.id)), created_at=tweet.created_at,
                          links=links, repost_of=reposted, reply_to=answered)

    # -- deleting --------------------------------------------------------------------------

    def delete(self, remote_id: str) -> None:
        """Delete a post (DELETE /2/tweets/:id); return once X confirms it is gone."""
        try:
            response = self._call(lambda client: client.delete_tweet(remote_id, user_auth=True),
                                  writing=True)
        except PublishError as error:
            if error.status == 404:
                return
            raise
        if (response.data or {}).get("deleted") is True:
            return
        # X sometimes answers deleted: false. Only a lookup that no longer finds it says gone.
        if self._exists(remote_id):
            raise PublishError("X answered that the post was not deleted, and it is still there",
                               retry_safe=True)

    def _exists(self, remote_id: str) -> bool:
        try:
            response = self._call(lambda client: client.get_tweet(remote_id, user_auth=True))
        except PublishError as error:
            if error.status == 404:
                return False
            raise
        return response.data is not None

    def post_url(self, remote_id: str) -> str:
        """The public address of a post."""
        handle = (self.destination.handle or "").lstrip("@")
        return f"https://x.com/{handle or 'i/web'}/status/{remote_id}"

    # -- plumbing --------------------------------------------------------------------------

    def _call(self, request: Callable[[tweepy.Client], T], *, writing: bool = False) -> T:
        """Run one API call, turning tweepy's and requests' errors into PublishError.
        ``writing``: the call can change something, so a server error may mean it did."""
        import requests
        import tweepy

        try:
            return request(self._client)
        except tweepy.TooManyRequests as error:
            raise self._too_many(error.response) from None
        except tweepy.HTTPException as error:
            raise self._refusal(error.response, writing) from None
        except requests.RequestException as error:
            raise transport_error(error, "X") from None

    def _too_many(self, response: requests.Response) -> PublishError:
        headers = response.headers
        problem = _problem(response)
        if headers.get("x-user-limit-24hour-remaining") == "0":
            return PublishError("X's 24-hour post limit for this account is used up",
                                status=429, retry_at=on_our_clock(_epoch(headers.get(
                                    "x-user-limit-24hour-reset")), headers),
                                problem="rate-limit")
        if headers.get("x-app-limit-24hour-remaining") == "0":
            return PublishError("X's 24-hour post limit for this app is used up", status=429,
                                retry_at=on_our_clock(_epoch(headers.get(
                                    "x-app-limit-24hour-reset")), headers),
                                throttle_key=self._app_key, problem="rate-limit")
        if "usage-capped" in str(problem.get("type", "")).lower():
            return PublishError(f"X's usage cap for this app is reached: {_words(response)}",
                                status=429, throttle_key=self._app_key, problem="credits")
        return PublishError("X rate limit reached", retry_safe=True, status=429,
                            retry_at=on_our_clock(_epoch(headers.get("x-rate-limit-reset")),
                                                  headers),
                            problem="rate-limit")

    def _refusal(self, response: requests.Response, writing: bool) -> PublishError:
        status = response.status_code
        words = _words(response)
        if status >= 500:
            # A post can be made and the answer still fail: look before resending a write.
            return PublishError(f"X server error: {words}", status=status,
                                maybe_posted=writing, retry_safe=not writing)
        if status == 403 and DUPLICATE_DETAIL in words.lower():
            return PublishError(f"X refused the post as a duplicate: {words}", status=status,
                                duplicate=True)
        summary = self.permanent_statuses.get(status, f"X answered HTTP {status}")
        if status == 402:
            return PublishError(f"{summary}: {words}", status=status,
                                throttle_key=self._app_key, problem="credits")
        problem = {401: "credentials", 403: "permission"}.get(status, "invalid")
        # X says which permission an app lacks in words ("oauth1 app permissions"): the app
        # must be set to "Read and write" in the developer portal.
        permission = "Read and write (the X app's user authentication settings)" if (
            status == 403 and "permission" in words.lower()) else None
        return PublishError(f"{summary}: {words}", status=status, problem=problem,
                            permission=permission)

    def throttle_keys(self) -> tuple[str, ...]:
        """The X app's key: its daily cap and credits are shared by every account using it."""
        return (self._app_key,)

    @cached_property
    def _app_key(self) -> str:
        """Names the X app (by a digest of its consumer key) for limits that span accounts."""
        consumer_key = self.destination.credentials.get("consumer_key", "")
        return "x-app:" + hashlib.sha256(consumer_key.encode()).hexdigest()[:16]

    @cached_property
    def _client(self) -> tweepy.Client:
        import tweepy

        credentials = self.destination.credentials
        client = tweepy.Client(
            consumer_key=credentials["consumer_key"],
            consumer_secret=credentials["consumer_secret"],
            access_token=credentials["access_token"],
            access_token_secret=credentials["access_token_secret"],
        )
        routed_session(client.session, X_ORIGIN, self.destination.api_url,
                       self.destination.timeouts)
        return client

    def close(self) -> None:
        """Close the HTTP session, if one was opened."""
        if "_client" in self.__dict__:
            self._client.session.close()


def _described(characters: list[str]) -> str:
    """Characters as ``U+FEFF (ZERO WIDTH NO-BREAK SPACE) and U+FFFE``: code point, and name
    where Unicode gives one."""
    named = [f"U+{ord(char):04X}" + (f" ({name})" if (name := unicodedata.name(char, "")) else "")
             for char in characters]
    return " and ".join(filter(None, (", ".join(named[:-1]), named[-1])))


def _users_tweets(client: tweepy.Client, **arguments: Any) -> tweepy.Response:
    """One page of an account's posts, with the fields reconciling needs."""
    return client.get_users_tweets(arguments.pop("user_id"), **arguments,
                                   tweet_fields=["created_at", "entities", "referenced_tweets"],
                                   user_auth=True)


def _problem(response: requests.Response) -> Mapping[str, Any]:
    """X's RFC 7807 problem body, or an empty mapping."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _words(response: requests.Response) -> str:
    """The platform's own words: the problem's detail (or title), then what its ``errors`` say
    (X's invalid-request detail is generic, "One or more parameters to your request was
    invalid.", and its errors name the parameter), else the status."""
    problem = _problem(response)
    summary = next((str(problem[key]) for key in ("detail", "title")
                    if isinstance(problem.get(key), str) and problem[key].strip()), "")
    errors = problem.get("errors")
    messages = [str(e.get("message") or e.get("detail")) for e in errors
                if isinstance(e, dict) and (e.get("message") or e.get("detail"))
                ] if isinstance(errors, list) else []
    told = "; ".join(m for m in dict.fromkeys(messages) if m not in summary)
    if summary and told:
        return f"{summary.rstrip('.')}: {told}"
    return summary or told or f"{response.status_code} {response.reason}"

