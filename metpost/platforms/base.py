"""The contract every platform client meets, built-in or third-party.

A client knows nothing of templates, boroughs or YAML. It is given a ``Destination`` (where to
post, with resolved credentials) and finished text, and returns a ``Receipt`` or raises
``PublishError``, which says whether trying again is safe.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from metpost.models import Receipt


@dataclass(frozen=True)
class TextLimits:
    """How long a post may be, counted the platform's way."""

    max_length: int
    unit: str = "characters"


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
class RemotePost:
    """A post as the platform lists it, for reconciling posts whose outcome is unknown."""

    remote_id: str
    text: str
    url: str | None = None
    created_at: datetime | None = None  # when the platform says so


class PublishError(Exception):
    """The platform did not take the post.

    ``retry_safe``: sending again cannot create a duplicate (the request never arrived, or the
    platform refused it in a way that may pass later, such as 5xx or 429).
    ``maybe_posted``: the request may have been accepted but no answer came back.
    ``retry_at``: a Unix time before which the platform asked us not to try again.
    ``status`` is the HTTP status, when there was one.
    """

    def __init__(
        self,
        reason: str,
        *,
        retry_safe: bool = False,
        maybe_posted: bool = False,
        status: int | None = None,
        retry_at: float | None = None,
        code: object = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code  # the platform's own error code, when it has one
        self.retry_safe = retry_safe
        self.maybe_posted = maybe_posted
        self.status = status
        self.retry_at = retry_at


class Platform(ABC):
    """A social-media platform metpost can post to.

    Subclasses declare data (``name``, ``credential_keys``, ``account_fields``, ``limits``) that
    config validation and checks read without importing the platform's client library.
    """

    name: ClassVar[str]
    title: ClassVar[str]  # how to name the platform to a person ("X", "Facebook")
    credential_keys: ClassVar[tuple[str, ...]] = ()
    # extra account keys this platform reads from accounts.yaml: key -> required?
    account_fields: ClassVar[Mapping[str, bool]] = {}
    limits: ClassVar[TextLimits]

    def __init__(self, destination: Destination) -> None:
        self.destination = destination

    @classmethod
    def settings_problems(cls, settings: Mapping[str, str]) -> dict[str, str]:
        """Problems with this platform's account fields, by field; checked when config loads."""
        return {}

    @classmethod
    def length(cls, text: str) -> int:
        """The text's length as this platform counts it."""
        return len(text)

    @classmethod
    def check(cls, text: str) -> list[str]:
        """Problems that would stop this text being posted; empty when it is fine."""
        if not text.strip():
            return ["text is empty"]
        length = cls.length(text)
        if length > cls.limits.max_length:
            over = length - cls.limits.max_length
            return [
                f"too long for {cls.title}: {length}/{cls.limits.max_length} "
                f"{cls.limits.unit} ({over} over)"
            ]
        return []

    @abstractmethod
    def publish(self, text: str) -> Receipt:
        """Post ``text``; return the platform's receipt or raise ``PublishError``."""

    def recent_posts(self, limit: int = 20) -> list[RemotePost]:
        """The account's newest posts, newest first; raise PublishError if they can't be read.

        A platform that cannot list posts leaves this unimplemented, and posts whose outcome is
        unknown then stay unknown for a person to check.
        """
        raise NotImplementedError(f"{self.title} cannot list recent posts")

    def delete(self, remote_id: str) -> None:
        """Delete a post; a post that is already gone counts as deleted. Raise PublishError."""
        raise NotImplementedError(f"{self.title} cannot delete posts")
