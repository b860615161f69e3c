"""The contract between metpost and every platform client, built-in or third-party.

A plugin imports only this module. A client knows nothing of templates, boroughs or YAML: it is
built for one account from a ``Destination`` (where to post, with resolved credentials), is given
finished posts as ``PostRequest`` objects, and returns a ``Receipt`` or raises ``PublishError``,
which says what is known about the outcome.

Obligations of a client:

- **One instance per account per run.** metpost builds it once and reuses it for every call
  about that account (publish, listing, delete), so sessions and logins are made once. Calls on
  one instance come from one thread at a time; different instances run in parallel threads, so
  share nothing mutable between them without a lock.
- **Timeouts.** Every network call honours ``destination.timeouts`` (connect, then each read) and
  never retries a write by itself: metpost decides about retries, because only it knows whether
  a resend could post twice.
- **Truthful errors.** Raise ``PublishError`` for anything the platform or the network did; say
  whether the request may have created the post (``maybe_posted``), whether the platform says the
  post already exists (``duplicate``), and whether trying again is safe (``retry_safe``, with
  ``retry_at`` when the platform names a time). Any other exception is treated as "the post may
  have gone out" and reported, never as a success.
- **Declared capabilities.** ``capabilities`` tells the engine, before it sends, what the client
  can do: list recent posts (to reconcile a post whose outcome is unknown), delete, publish
  idempotently (a resend with the same ``idempotency_key`` cannot post twice), attach media,
  reply in threads, repost another post (``PostRequest.repost_of``), and say whom the
  credentials belong to (``whoami``). The engine never calls what is not declared.
- **Secrets.** Never put a credential in a ``PublishError`` reason; metpost redacts what it
  knows, but a client is the first line.
"""

from __future__ import annotations

import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from metpost.platforms.graphemes import shows_nothing

__all__ = [
    "PROBLEMS",
    "Capabilities",
    "Destination",
    "Identity",
    "Media",
    "Platform",
    "PostRequest",
    "PublishError",
    "Receipt",
    "RemoteLink",
    "RemotePost",
    "TextLimits",
    "Timeouts",
]


@dataclass(frozen=True)
class TextLimits:
    """How long a post may be, counted the platform's way."""

    max_length: int
    unit: str = "characters"


@dataclass(frozen=True)
class Capabilities:
    """What a platform client can do, declared as data and read before anything is sent."""

    can_list_recent: bool = False  # recent_posts() works: unknown outcomes can be reconciled
    can_delete: bool = False  # delete() works: metpost retract can remove posts
    idempotent_publish: bool = False  # a resend with the same idempotency key cannot duplicate
    # Seconds the platform honours an idempotency key (Mastodon: an hour); None: for ever. Past
    # it, a post that may exist is looked for (can_list_recent) before any resend.
    idempotency_window: float | None = None
    # Seconds a request whose answer was lost (a read timeout, a proxy's 504) may still be in
    # the platform's hands. Mastodon records an idempotency key only once the status is made,
    # so a resend while the first request is still being worked on makes a second status; no
    # resend (nor a look that could lead to one) happens sooner than this after a lost answer.
    in_flight_for: float = 0.0
    media: bool = False  # publish() attaches PostRequest.media
    # publish() honours PostRequest.reply_to (and thread_root): a text too long for one post
    # may go out as a thread of replies
    threads: bool = False
    max_media: int = 0  # images per post
    # The images a post may carry, checked before anything is sent: MIME types ("image/*" for
    # any image), the most bytes each may have, and the longest alt text (None: no limit).
    media_types: tuple[str, ...] = ()
    max_media_bytes: int = 0
    max_alt_length: int | None = None
    reposts: bool = False  # publish() honours PostRequest.repost_of (X: a repost)
    can_verify: bool = False  # whoami() works: `metpost accounts verify` can ask who we are


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for a connection, and then for each read."""

    connect: float = 5.0
    read: float = 20.0


@dataclass(frozen=True)
class Destination:
    """Everything a client needs to post as one account, and nothing else."""

    account: str  # the account's name, for messages
    handle: str | None = None
    settings: Mapping[str, str] = field(default_factory=dict)
    credentials: Mapping[str, str] = field(default_factory=dict)
    api_url: str | None = None
    timeouts: Timeouts = Timeouts()


@dataclass(frozen=True)
class Receipt:
    """What a platform said when it accepted a post."""

    remote_id: str
    url: str | None = None


@dataclass(frozen=True)
class Media:
    """An image to attach, with the text that describes it to people who cannot see it.

    ``sha256`` (hex) and ``size`` (bytes) are the file's as metpost checked it before the
    broadcast was recorded; metpost checks again before each request that the file still has
    them, so a client may read ``path`` and trust what it finds. An empty ``alt_text`` means
    the person sending chose to give none (``--no-alt``).
    """

    path: Path
    mime_type: str
    alt_text: str = ""
    sha256: str = ""
    size: int = 0


@dataclass(frozen=True)
class PostRequest:
    """One post to publish.

    ``idempotency_key`` is unique to this post in the ledger and the same on every attempt, so a
    platform with native idempotency can turn a resend into a no-op. ``reply_to`` is the receipt
    of the previous part when the post continues a thread, and ``thread_root`` the receipt of
    the thread's first part (Bluesky's replies name both); both are None for a first part.
    ``media`` are the images to attach (a thread's images go with its first part); uploading
    them creates no post, so an upload that fails is safe to try again.
    """

    text: str
    idempotency_key: str
    reply_to: Receipt | None = None
    media: tuple[Media, ...] = ()
    thread_root: Receipt | None = None
    # The post to repost instead of making a new one (its text is then the original's); only
    # given to a platform that declares ``capabilities.reposts``.
    repost_of: Receipt | None = None
    # Unix time the first request for this post began: the same on every attempt, in every run.
    # A platform whose posts carry a time of their own (Bluesky's createdAt) derives it from
    # this, so that a resend is byte-identical. None when the caller keeps no such record.
    first_attempt_at: float | None = None


@dataclass(frozen=True)
class RemoteLink:
    """A link as a platform lists it: the text shown (``url``, e.g. a t.co link) and where it
    leads (``target``, the address the author wrote)."""

    url: str
    target: str


@dataclass(frozen=True)
class RemotePost:
    """A post as the platform lists it, for finding a post whose outcome is unknown."""

    remote_id: str
    text: str
    url: str | None = None
    created_at: datetime | None = None  # when the platform says it was made (timezone-aware)
    links: tuple[RemoteLink, ...] = ()
    repost_of: str | None = None  # when it is a repost: the remote id of the post it reposts
    # when it is a reply and the platform says so: the remote id of the post it answers (a
    # listed part of a thread must answer the part before it)
    reply_to: str | None = None


@dataclass(frozen=True)
class Identity:
    """Whom a platform says an account's credentials belong to.

    ``handle`` is how accounts.yaml's ``handle`` would name the account (X: ``@MPSHackney``; a
    Facebook page's username), or None when the platform gives none to compare; ``name`` is the
    name the platform shows (a page's name).
    """

    handle: str | None
    name: str | None = None


class PublishError(Exception):
    """The platform did not confirm the request.

    - ``maybe_posted``: the request may have created the post (no answer came back, or a server
      error arrived after the platform may have acted). metpost looks for the post before any
      resend.
    - ``duplicate``: the platform refused the post as a duplicate of one it holds: evidence that
      it exists. metpost looks for it to learn its id.
    - ``retry_safe``: sending again cannot create a duplicate and may succeed later (the request
      never arrived, a rate limit, a documented "not processed" error). ``retry_at`` is a Unix
      time before which the platform asked us not to try again.
    - ``throttle_key``: when the refusal applies beyond this account (an app-wide limit), a key
      shared by every account it applies to; metpost then holds all of their posts, not just this
      one, until ``retry_at``.
    - none of these: a permanent refusal (revoked token, invalid post); the post fails.
    ``status`` is the HTTP status and ``code`` the platform's own error code, when there were any.
    ``problem`` says what a person must do about a refusal, as one of ``PROBLEMS``:
    ``credentials`` (renew the token), ``permission`` (grant the app or page a permission; name
    it in ``permission`` when the platform does), ``duplicate``, ``rate-limit``, ``credits``,
    ``invalid`` (the post itself), ``destination`` (the account's settings point where it cannot
    post: a page that is not there, or not the token's).
    """

    def __init__(
        self,
        reason: str,
        *,
        retry_safe: bool = False,
        maybe_posted: bool = False,
        duplicate: bool = False,
        status: int | None = None,
        retry_at: float | None = None,
        throttle_key: str | None = None,
        code: object = None,
        problem: str | None = None,
        permission: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_safe = retry_safe
        self.maybe_posted = maybe_posted
        self.duplicate = duplicate
        self.status = status
        self.retry_at = retry_at
        self.throttle_key = throttle_key
        self.code = code
        self.problem = problem or ("duplicate" if duplicate else None)
        self.permission = permission


PROBLEMS = ("credentials", "permission", "duplicate", "rate-limit", "credits", "invalid",
            "destination")


def comparable_text(text: str) -> str:
    """Text as two listings of the same post agree on it: NFC-normalised, whitespace folded."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def _accepts(types: Sequence[str], mime_type: str) -> bool:
    """Whether ``mime_type`` is one of ``types``, where ``image/*`` stands for any image."""
    return any(accepted == mime_type or (accepted.endswith("/*") and
                                         mime_type.startswith(accepted[:-1]))
               for accepted in types)


class Platform(ABC):
    """A social-media platform metpost can post to.

    Subclasses declare data (``name``, ``title``, ``credential_keys``,
    ``optional_credential_keys``, ``account_fields``, ``path_fields``, ``limits``,
    ``limit_field``, ``capabilities``) that config validation and checks read without importing
    the platform's client library, and implement ``publish`` and what their capabilities declare.
    """

    name: ClassVar[str]
    title: ClassVar[str]  # how to name the platform to a person ("X", "Facebook")
    credential_keys: ClassVar[tuple[str, ...]] = ()  # every one must be set
    optional_credential_keys: ClassVar[tuple[str, ...]] = ()  # may be left out of the config
    # extra account keys this platform reads from accounts.yaml: key -> required?
    account_fields: ClassVar[Mapping[str, bool]] = {}
    # account fields that name files: given relative to the accounts file's folder, and handed
    # to the client as absolute paths
    path_fields: ClassVar[tuple[str, ...]] = ()
    # the platform's secrets are tokens of printable ASCII: one with any other character (a
    # pasted "€", a non-breaking space) could not go into a request's header, and would fail
    # the post only once the broadcast had begun
    ascii_credentials: ClassVar[bool] = False
    # account fields that are yes or no: written true or false in accounts.yaml, and handed to
    # the client as "true" or "false"
    flag_fields: ClassVar[tuple[str, ...]] = ()
    # The account fields that, besides the handle and api_url, say where a post goes (a page,
    # a receiver, a file): field -> whether its value may be a secret (a webhook's url often
    # carries the receiver's token). An approved plan records them (a secret as a digest) and
    # is applied only while they are unchanged. None: every field counts, each as a secret.
    destination_fields: ClassVar[Mapping[str, bool] | None] = None
    # the account field that limits_for() reads to vary the limit per account, if any
    limit_field: ClassVar[str | None] = None
    limits: ClassVar[TextLimits]  # the usual limit; limits_for() may vary it per account
    # What every client of the platform can do; a client may declare more for its account
    # (a webhook whose receiver honours idempotency keys), as an attribute of its own.
    capabilities: Capabilities = Capabilities()

    def __init__(self, destination: Destination) -> None:
        self.destination = destination

    # -- data about texts and accounts, no network ---------------------------------------------

    @classmethod
    def settings_problems(cls, settings: Mapping[str, str]) -> dict[str, str]:
        """Problems with this platform's account fields, by field; checked when config loads."""
        return {}

    @classmethod
    def account_problems(cls, settings: Mapping[str, str],
                         credentials: Mapping[str, str]) -> dict[str, str]:
        """Problems of an account's fields and credentials taken together (``credentials``:
        each key's variable name), by field; checked when the config loads."""
        return {}

    @classmethod
    def local_problems(cls, settings: Mapping[str, str]) -> list[str]:
        """Problems this machine has now with an account's fields, no network (a feed's folder
        is missing); checked with the broadcast, before anything is sent, and by ``check``."""
        return []

    @classmethod
    def credential_problems(cls, credentials: Mapping[str, str]) -> dict[str, str]:
        """Problems with the account's secrets as set in the environment, by credential key,
        never quoting them; checked with the broadcast, before anything is sent."""
        if not cls.ascii_credentials:
            return {}
        # The character is not named: it is part of a secret.
        return {key: "holds a character other than printable ASCII, which no token has; copy "
                     "it again, as it is"
                for key, value in credentials.items()
                if any(not " " <= char < "\x7f" for char in value.strip())}

    @classmethod
    def limits_for(cls, settings: Mapping[str, str]) -> TextLimits:
        """The text limit of one account (an instance's own maximum, a paid tier's longer posts)."""
        return cls.limits

    @classmethod
    def length(cls, text: str) -> int:
        """The text's length as this platform counts it."""
        return len(text)

    @classmethod
    def check(cls, text: str, settings: Mapping[str, str] | None = None) -> list[str]:
        """Problems that would stop this text being posted on an account with ``settings``."""
        if shows_nothing(text):  # blank, or only zero-width spaces, fillers and the like
            return ["text is empty"]
        limits = cls.limits_for(settings or {})
        length = cls.length(text)
        if length > limits.max_length:
            over = length - limits.max_length
            return [f"too long for {cls.title}: {length}/{limits.max_length} {limits.unit} "
                    f"({over} over)"]
        return []

    @classmethod
    def media_problems(cls, media: Sequence[Media]) -> list[str]:
        """Problems that would stop these images going out with one post on this platform:
        how many, of what type, how big, how long their alt text (``capabilities``)."""
        if not media:
            return []
        capabilities = cls.capabilities
        if not capabilities.media or capabilities.max_media < 1:
            return [f"{cls.title} posts cannot carry images ({len(media)} given); leave its "
                    "accounts out (--platform), or give them a template variant without "
                    "images"]
        problems = []
        if len(media) > capabilities.max_media:
            problems.append(f"{len(media)} images, but {cls.title} takes at most "
                            f"{capabilities.max_media} in one post")
        for item in media:
            name = item.path.name
            if not _accepts(capabilities.media_types, item.mime_type):
                problems.append(f"{name}: {cls.title} does not take {item.mime_type} images "
                                f"(it takes {', '.join(capabilities.media_types)})")
            if capabilities.max_media_bytes and item.size > capabilities.max_media_bytes:
                problems.append(f"{name}: {item.size:,} bytes, over {cls.title}'s "
                                f"{capabilities.max_media_bytes:,} for an image")
            limit = capabilities.max_alt_length
            if limit is not None and len(item.alt_text) > limit:
                problems.append(f"{name}: alt text of {len(item.alt_text):,} characters, over "
                                f"{cls.title}'s {limit:,}")
        return problems

    # -- talking to the platform ---------------------------------------------------------------

    @abstractmethod
    def publish(self, request: PostRequest) -> Receipt:
        """Post ``request``; return the platform's receipt or raise ``PublishError``."""

    def recent_posts(self, since: datetime, limit: int = 100) -> list[RemotePost]:
        """The account's posts made since ``since``, newest first, at most ``limit`` of them;
        raise PublishError if they cannot be read. Only called when
        ``capabilities.can_list_recent``. ``since`` and the listed ``created_at`` are on the
        platform's clock (see ``clock_ahead``)."""
        raise NotImplementedError(f"{self.title} cannot list recent posts")

    def clock_ahead(self) -> float | None:
        """How many seconds the platform's clock is ahead of ours (negative: behind), as its
        latest answer showed; 0 when they agree within a few seconds, or when the times
        ``recent_posts`` lists are on our clock anyway; None when no answer has told yet.
        ``recent_posts`` takes and gives times on the platform's clock."""
        return None

    def same_post(self, request: PostRequest, listed: RemotePost) -> bool:
        """Whether ``listed`` is the post ``request`` would make: the same text, as this
        platform lists it (for a repost: a repost of the same post). Platforms that rewrite text
        (links, escaping, HTML) override this."""
        if request.repost_of is not None:
            return listed.repost_of == request.repost_of.remote_id
        return comparable_text(request.text) == comparable_text(listed.text)

    def whoami(self) -> Identity:
        """Ask the platform whom the credentials belong to (no post is made); raise
        PublishError if it refuses. Only called when ``capabilities.can_verify``."""
        raise NotImplementedError(f"{self.title} cannot say whom credentials belong to")

    def throttle_keys(self) -> tuple[str, ...]:
        """Keys of limits this account shares with others (an app's daily cap), as its
        ``PublishError.throttle_key`` would name them; when one is hit, metpost holds every
        account with that key."""
        return ()

    def delete(self, remote_id: str) -> None:
        """Delete a post and return only once it is gone (a post already gone counts as
        deleted); raise PublishError otherwise. Only called when ``capabilities.can_delete``."""
        raise NotImplementedError(f"{self.title} cannot delete posts")

    def close(self) -> None:  # noqa: B027 — optional hook; most clients hold nothing to release
        """Release sessions and connections; called once when the run is done."""
