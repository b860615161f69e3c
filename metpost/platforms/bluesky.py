"""Bluesky (the AT Protocol) through the ``atproto`` SDK, with an app password.

How a PDS answers, and what metpost makes of it (docs.bsky.app "Creating a post", "Rate
limits"; the ``com.atproto.repo.*`` and ``app.bsky.feed.post`` lexicons; the reference PDS):

- A post is a record in the account's repository, collection ``app.bsky.feed.post``, under a
  record key that for posts is a TID (13 base32-sortable characters: microseconds since 1970
  and a 10-bit clock id). metpost writes it with ``com.atproto.repo.putRecord`` under a key
  derived from the post's idempotency key and its first attempt's time, with ``createdAt``
  taken from that same time, so every attempt writes the same record under the same key.
  putRecord with a record identical to the one stored is a no-op (the reference PDS compares
  CIDs and makes no commit): a resend cannot post twice, however late it comes.
- Before resending a post that an earlier attempt or run may have written, metpost reads its
  record key back (``com.atproto.repo.getRecord``): found, that is the post; "RecordNotFound",
  it was never made. A record there with other text is never overwritten.
- Text: at most 300 graphemes and 3,000 bytes of UTF-8 (the lexicon's ``maxGraphemes`` and
  ``maxLength``). Links, mentions and hashtags are facets with UTF-8 byte offsets, found by the
  SDK's ``detect_facets`` (mentions resolved with ``com.atproto.identity.resolveHandle``; one
  that does not resolve stays plain text), as the Bluesky app does.
- Sessions: ``com.atproto.server.createSession`` is limited (30 per 5 minutes, 300 a day, per
  account), so a client logs in once and reuses the session for every call of the run.
- Errors are ``{"error": Name, "message": ...}``: 401 ``AuthenticationRequired`` "Invalid
  identifier or password" (a wrong or revoked app password), 400 ``InvalidRequest``,
  ``ExpiredToken``, ``InvalidToken``, ``RecordNotFound``, 429 ``RateLimitExceeded`` with
  ``RateLimit-Limit``, ``-Remaining``, ``-Reset`` (Unix seconds) and ``-Policy`` headers,
  and 500 ``InternalServerError``, 502 ``UpstreamFailure``, 503 ``NotEnoughResources``, 504
  ``UpstreamTimeout``, any of which may come after the write was made.
- ``com.atproto.repo.deleteRecord`` succeeds for a record that is already gone.
- Threads: a part's record has ``reply: {root, parent}``, each a ``com.atproto.repo.strongRef``
  (``uri`` and ``cid``) of the thread's first part and of the part before (the
  ``app.bsky.feed.post`` lexicon's ``replyRef``); the CIDs are those putRecord answered, or
  getRecord reads back.
- Images: each file is sent to ``com.atproto.repo.uploadBlob`` (with its MIME type), which
  answers a blob reference, and the record embeds them as ``app.bsky.embed.images``: at most
  4, each with its ``alt`` ("Alt text description of the image, for accessibility"; the
  lexicon sets no length), the blob ``image/*`` and at most 2,000,000 bytes ("May be up to 2
  MB, formerly limited to 1 MB", lexicons/app/bsky/embed/images.json at bluesky-social/atproto
  d6296a1, 2026-08). A blob is named by its content, so uploading it again is harmless and the
  record stays the same on every attempt; a blob no record references is deleted by the PDS.
- ``accounts verify`` asks for nothing more than the session: createSession answers the
  account's ``handle`` and ``did``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from metpost.platforms.api import (
    Capabilities,
    Destination,
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
from metpost.platforms.graphemes import grapheme_count, shows_nothing

if TYPE_CHECKING:
    from atproto import Client, models

DEFAULT_PDS = "https://bsky.social"
POST_COLLECTION = "app.bsky.feed.post"
MAX_BYTES = 3000
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"
PAGE_SIZE = 100  # the most com.atproto.repo.listRecords returns at once
HANDLE = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}"
                    r"[a-z0-9])?", re.IGNORECASE)
DID = re.compile(r"did:[a-z]+:[A-Za-z0-9._:%-]+")
AT_URI = re.compile(r"at://([^/]+)/([^/]+)/([^/]+)")
CREDENTIAL_ERRORS = {"ExpiredToken", "InvalidToken", "AuthenticationRequired", "AccountTakedown"}
T = TypeVar("T")


def record_key(idempotency_key: str, first_attempt_at: float) -> str:
    """The post's TID: its first attempt's time in microseconds, and a clock id from its
    idempotency key, so two posts begun in the same microsecond still differ."""
    micros = int(first_attempt_at * 1_000_000)
    clock_id = int.from_bytes(hashlib.sha256(idempotency_key.encode()).digest()[:2]) & 0x3FF
    value = (micros << 10) | clock_id
    return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def created_at(first_attempt_at: float) -> str:
    """``createdAt`` as Bluesky writes it: UTC, milliseconds, ``Z``."""
    moment = datetime.fromtimestamp(first_attempt_at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class BlueskyPlatform(Platform):
    """Posts ``app.bsky.feed.post`` records with putRecord under keys of metpost's choosing."""

    name = "bluesky"
    title = "Bluesky"
    credential_keys = ("app_password",)
    account_fields = {"handle": True}  # noqa: RUF012 — the login identifier
    destination_fields = {}  # noqa: RUF012 — the handle logs in; the PDS is the api_url
    limits = TextLimits(max_length=300, unit="graphemes")
    capabilities = Capabilities(can_list_recent=True, can_delete=True, idempotent_publish=True,
                                threads=True, can_verify=True, media=True, max_media=4,
                                media_types=("image/*",), max_media_bytes=2_000_000)

    def __init__(self, destination: Destination) -> None:
        super().__init__(destination)
        self._started = time.time()  # an attempt begun before this is an earlier run's
        self._tried: set[str] = set()  # idempotency keys this client has sent
        self._first_attempts: dict[str, float] = {}  # for callers that keep no first attempt
        self._records: dict[str, models.AppBskyFeedPost.Record] = {}
        self._did: str | None = None
        self._session_handle: str | None = None
        self._cids: dict[str, str] = {}  # record uri -> its CID, as the PDS answered it
        self._blobs: dict[str, Any] = {}  # an image's SHA-256 -> its uploaded blob's ref

    @classmethod
    def settings_problems(cls, settings: Mapping[str, str]) -> dict[str, str]:
        """The handle is the login identifier: a domain-like handle, without ``@``, or a DID."""
        handle = settings.get("handle")
        if handle is None:
            return {}
        if handle.startswith("@"):
            return {"handle": f"write the handle without '@', as {handle[1:]}: Bluesky logs in "
                              "with it"}
        if not (HANDLE.fullmatch(handle) or DID.fullmatch(handle)):
            return {"handle": f"'{handle}' is not a Bluesky handle like mpshackney.bsky.social"}
        return {}

    @classmethod
    def length(cls, text: str) -> int:
        """Graphemes, as the lexicon's maxGraphemes counts them."""
        return grapheme_count(text)

    @classmethod
    def check(cls, text: str, settings: Mapping[str, str] | None = None) -> list[str]:
        """300 graphemes, and no more than 3,000 bytes of UTF-8."""
        problems = super().check(text, settings)
        size = len(text.encode("utf-8"))
        if not shows_nothing(text) and size > MAX_BYTES:
            problems.append(f"too long for Bluesky: {size}/{MAX_BYTES} bytes of UTF-8 "
                            f"({size - MAX_BYTES} over)")
        return problems

    # -- publishing ------------------------------------------------------------------------

    def publish(self, request: PostRequest) -> Receipt:
        """Write the post's record (putRecord); after an earlier attempt, read it back first."""
        key = request.idempotency_key
        first = request.first_attempt_at or self._first_attempts.setdefault(key, time.time())
        rkey = record_key(key, first)
        may_exist = key in self._tried or first < self._started
        self._tried.add(key)
        if may_exist:
            existing = self._stored(rkey)
            if existing is not None:
                return self._adopted(request, rkey, existing)
        record = self._record(request, first)
        response = self._call(lambda client: client.com.atproto.repo.put_record(
            _put(self._repo, rkey, record)), writing=True)
        self._cids[str(response.uri)] = str(response.cid)
        return Receipt(remote_id=str(response.uri), url=self.post_url(rkey))

    def _record(self, request: PostRequest, first: float) -> models.AppBskyFeedPost.Record:
        """The post's record, made once per run: facets are looked up, and must not change
        between the attempts of one post."""
        key = request.idempotency_key
        if key not in self._records:
            from atproto import models

            facets = self._call(lambda client: client.detect_facets(request.text))
            embed = models.AppBskyEmbedImages.Main(images=[
                models.AppBskyEmbedImages.Image(alt=item.alt_text, image=self._blob(item))
                for item in request.media]) if request.media else None
            reply = models.AppBskyFeedPost.ReplyRef(
                root=self._strong_ref(request.thread_root or request.reply_to),
                parent=self._strong_ref(request.reply_to)) if request.reply_to else None
            self._records[key] = models.AppBskyFeedPost.Record(
                text=request.text, created_at=created_at(first), facets=facets or None,
                embed=embed, reply=reply)
        return self._records[key]

    def _blob(self, item: Media) -> Any:
        """The blob reference of an image, uploaded once per run (uploadBlob)."""
        if item.sha256 not in self._blobs:
            try:
                content = item.path.read_bytes()
            except OSError as error:
                raise PublishError(f"cannot read the image {item.path}: {error.strerror}"
                                   ) from None
            response = self._call(lambda client: client.com.atproto.repo.upload_blob(
                content, headers={"Content-Type": item.mime_type}))
            self._blobs[item.sha256] = response.blob
        return self._blobs[item.sha256]

    def _strong_ref(self, receipt: Receipt) -> Any:
        """The post a reply answers, as a strong reference: its uri and its record's CID."""
        from atproto import models

        cid = self._cids.get(receipt.remote_id)
        if cid is None:
            match = AT_URI.fullmatch(receipt.remote_id)
            stored = self._stored(match.group(3)) if match else None
            if stored is None:
                raise PublishError(f"the post this part answers ({receipt.url or receipt.remote_id}"
                                   ") is no longer on Bluesky; the thread cannot go on")
            cid = str(stored.cid)
            self._cids[receipt.remote_id] = cid
        return models.ComAtprotoRepoStrongRef.Main(uri=receipt.remote_id, cid=cid)

    def _stored(self, rkey: str) -> Any | None:
        """The record under ``rkey`` (getRecord), or None if there is none."""
        from atproto import models

        try:
            return self._call(lambda client: client.com.atproto.repo.get_record(
                models.ComAtprotoRepoGetRecord.Params(repo=self._repo,
                                                      collection=POST_COLLECTION, rkey=rkey)))
        except PublishError as error:
            if error.code == "RecordNotFound":
                return None
            raise

    def _adopted(self, request: PostRequest, rkey: str, stored: Any) -> Receipt:
        text = str(getattr(stored.value, "text", ""))
        if comparable_text(text) != comparable_text(request.text):
            raise PublishError(f"Bluesky holds another post under this post's record key "
                               f"({stored.uri}); it was left as it is")
        self._cids[str(stored.uri)] = str(stored.cid)
        return Receipt(remote_id=str(stored.uri), url=self.post_url(rkey))

    # -- who the credentials belong to ----------------------------------------------------

    def whoami(self) -> Identity:
        """The account the app password logs in to, as createSession names it: its handle (or
        its DID, when accounts.yaml gives the DID as the login)."""
        self._client_logged_in()
        if DID.fullmatch(self._login) and self._did:
            return Identity(handle=self._did, name=self._session_handle)
        return Identity(handle=self._session_handle or self._login)

    def post_url(self, rkey: str) -> str:
        """The post's address in the Bluesky app."""
        return f"https://bsky.app/profile/{self._login}/post/{rkey}"

    # -- finding a post --------------------------------------------------------------------

    def clock_ahead(self) -> float | None:
        """0: a record's ``createdAt``, which the listing gives, is written by us, on our
        clock (the first attempt's time), whatever the PDS's own clock says."""
        return 0.0

    def recent_posts(self, since: datetime, limit: int = 100) -> list[RemotePost]:
        """The account's posts since ``since`` (listRecords, newest first)."""
        from atproto import models

        found: list[RemotePost] = []
        cursor: str | None = None
        while len(found) < limit:
            params = models.ComAtprotoRepoListRecords.Params(
                repo=self._repo, collection=POST_COLLECTION,
                limit=min(PAGE_SIZE, limit - len(found)), cursor=cursor)
            page = self._call(partial(_list_records, params=params))
            listed = [self._remote_post(item) for item in page.records]
            recent = [post for post in listed
                      if post.created_at is None or post.created_at >= since]
            found.extend(recent)
            cursor = page.cursor
            if not cursor or not listed or len(recent) < len(listed):
                break
        return found[:limit]

    def _remote_post(self, item: Any) -> RemotePost:
        match = AT_URI.fullmatch(str(item.uri))
        rkey = match.group(3) if match else ""
        try:
            made: datetime | None = datetime.fromisoformat(str(item.value.created_at))
        except (AttributeError, ValueError):
            made = None
        reply = getattr(item.value, "reply", None)
        parent = getattr(getattr(reply, "parent", None), "uri", None)
        return RemotePost(remote_id=str(item.uri), text=str(getattr(item.value, "text", "")),
                          url=self.post_url(rkey), created_at=made,
                          reply_to=str(parent) if parent else None)

    # -- deleting --------------------------------------------------------------------------

    def delete(self, remote_id: str) -> None:
        """Delete a post's record (deleteRecord); the PDS succeeds for one already gone."""
        from atproto import models

        match = AT_URI.fullmatch(remote_id)
        if match is None:
            raise PublishError(f"'{remote_id}' is not the at:// address of a Bluesky post")
        repo, collection, rkey = match.groups()
        self._call(lambda client: client.com.atproto.repo.delete_record(
            models.ComAtprotoRepoDeleteRecord.Data(repo=repo, collection=collection,
                                                   rkey=rkey)), writing=True)

    # -- plumbing --------------------------------------------------------------------------

    @property
    def _login(self) -> str:
        return (self.destination.handle or self.destination.settings.get("handle", "")).lstrip(
            "@")

    @property
    def _repo(self) -> str:
        """The account's repository: its DID once logged in, its handle before."""
        return self._did or self._login

    def _call(self, request: Callable[[Client], T], *, writing: bool = False) -> T:
        """Run one call on the logged-in client, turning the SDK's and httpx's errors into
        PublishError. ``writing``: the call can change something, so a server error or a
        lost answer may mean it did. Logging in is never a write."""
        client = self._client_logged_in()
        try:
            return _guarded(lambda: request(client), writing)
        except PublishError as error:
            if error.code != "ExpiredToken" or self.__dict__.get("_logged_in_again"):
                raise
        # The PDS says the session's token has expired (its clock ahead of ours, or the
        # session ended there): log in again, once a run, and make the call again. A call
        # refused for its token changed nothing. The app password is not at fault.
        self.__dict__["_logged_in_again"] = True
        self.close()
        del self.__dict__["_client"]
        client = self._client_logged_in()
        return _guarded(lambda: request(client), writing)

    def _client_logged_in(self) -> Client:
        """The client, logged in once (createSession) on first use."""
        client = self.__dict__.get("_client")
        if client is None:
            client = _guarded(self._log_in, writing=False)
            self.__dict__["_client"] = client
        return client

    def _log_in(self) -> Client:
        import httpx
        from atproto import Client
        from atproto_client.request import Request

        timeouts = self.destination.timeouts
        client = Client(base_url=self.destination.api_url or DEFAULT_PDS, request=Request(
            timeout=httpx.Timeout(timeouts.read, connect=timeouts.connect)))
        client.on_session_change(self._remember_session)
        client.login(self._login, self.destination.credentials["app_password"],
                     fetch_bsky_profile=False)
        return client

    def _remember_session(self, _event: object, session: Any) -> None:
        self._did = str(session.did)
        self._session_handle = str(getattr(session, "handle", "") or "") or None

    def close(self) -> None:
        """Close the HTTP connections, if any were opened."""
        client = self.__dict__.get("_client")
        if client is not None:
            client.request.close()


def _list_records(client: Client, params: Any) -> Any:
    return client.com.atproto.repo.list_records(params)


def _put(repo: str, rkey: str, record: Any) -> Any:
    from atproto import models

    return models.ComAtprotoRepoPutRecord.Data(repo=repo, collection=POST_COLLECTION, rkey=rkey,
                                               record=record)


def _guarded(call: Callable[[], T], writing: bool) -> T:
    """Run ``call``, turning the SDK's and httpx's errors into a truthful PublishError."""
    import httpx
    from atproto_client import exceptions
    from atproto_core.exceptions import AtProtocolError

    try:
        return call()
    except exceptions.RateLimitExceededError as error:
        raise _rate_limited(error) from None
    except exceptions.RequestErrorBase as error:
        if error.response is None:
            raise _transport(error.__cause__ or error, writing) from None
        raise _refusal(error, writing) from None
    except httpx.HTTPError as error:  # the SDK lets some through, such as a dropped connection
        raise _transport(error, writing) from None
    except AtProtocolError as error:  # an answer the SDK could not read
        # Its words can run to many lines (a pydantic validation report): the first says it.
        words = (str(error).strip().splitlines() or [""])[0]
        raise PublishError(f"Bluesky answered in a way the SDK could not read: "
                           f"{type(error).__name__}: {words}", maybe_posted=writing,
                           retry_safe=not writing) from None


def _transport(error: BaseException, writing: bool) -> PublishError:
    import httpx

    if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return PublishError("could not connect to Bluesky", retry_safe=True)
    if isinstance(error, httpx.TimeoutException):
        words = "Bluesky did not answer in time"
    else:
        words = "the connection to Bluesky broke before it answered"
    if not writing:
        return PublishError(words, retry_safe=True)
    return PublishError(f"{words}; the post may have gone out", maybe_posted=True)


def _error_name(error: Any) -> tuple[str | None, str]:
    """The XRPC error's name and the platform's words."""
    content = error.response.content
    name = getattr(content, "error", None)
    message = getattr(content, "message", None)
    if name:
        return str(name), f"{name}: {message}" if message else str(name)
    return None, f"HTTP {error.response.status_code}"


def _refusal(error: Any, writing: bool) -> PublishError:
    status = int(error.response.status_code)
    name, words = _error_name(error)
    failure: PublishError
    if status >= 500:
        failure = PublishError(f"Bluesky server error: {words}", status=status,
                               maybe_posted=writing, retry_safe=not writing)
    elif status in (401, 403) or name in CREDENTIAL_ERRORS:
        failure = PublishError(f"Bluesky refused the app password or session: {words}",
                               status=status, problem="credentials")
    elif name == "RecordNotFound":
        failure = PublishError(f"Bluesky has no such record: {words}", status=status)
    else:
        failure = PublishError(f"Bluesky refused the request: {words}", status=status,
                               problem="invalid" if status == 400 else None)
    failure.code = name
    return failure


def _rate_limited(error: Any) -> PublishError:
    reset = error.reset_at
    response = getattr(error, "response", None)
    retry_at = on_our_clock(reset.timestamp() if reset is not None else None,
                            getattr(response, "headers", None))
    if retry_at is None and error.retry_after is not None:
        retry_at = time.time() + error.retry_after
    _, words = _error_name(error)
    return PublishError(f"Bluesky rate limit reached: {words}", retry_safe=True, status=429,
                        retry_at=retry_at, problem="rate-limit", code="RateLimitExceeded")
