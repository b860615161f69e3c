"""Plain data that flows between config, rendering, checking and publishing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from metpost.platforms.api import Media
from metpost.status import PostStatus

if TYPE_CHECKING:  # loaded only where a file asks for approvals (or a review reads them)
    from metpost.approvals import ApprovalPolicy

# An account's place in a staged rollout: "live" accounts are posted to; "planned" ones (not
# launched yet) and "paused" ones are left out of selections and listed as skipped.
ACCOUNT_STATUSES = ("live", "planned", "paused")


@dataclass(frozen=True)
class Borough:
    """A place an organisation speaks for, grouped into a command unit (BCU for the Met)."""

    name: str
    bcu: str

    def __str__(self) -> str:
        # Templates write {{ borough }} far more often than {{ borough.name }}.
        return self.name


@dataclass(frozen=True)
class Personality:
    """A named voice (an officer, a unit) that some accounts speak in."""

    key: str
    display: str
    signature: str = ""

    def __str__(self) -> str:
        return self.display


@dataclass(frozen=True)
class Account:
    """One account on one platform, as declared in accounts.yaml."""

    name: str
    platform: str
    handle: str | None = None
    borough: str | None = None
    personality: str | None = None
    tags: tuple[str, ...] = ()
    vars: Mapping[str, str] = field(default_factory=dict)
    api_url: str | None = None
    # credential key -> name of the environment variable holding the secret
    credentials: Mapping[str, str] = field(default_factory=dict)
    # platform-specific fields the platform declares (page_id for Facebook, ...)
    settings: Mapping[str, str] = field(default_factory=dict)
    line: int = 0
    status: str = "live"  # one of ACCOUNT_STATUSES: only live accounts are posted to

    @property
    def live(self) -> bool:
        """The account is posted to (planned and paused ones are skipped by selections)."""
        return self.status == "live"

    @property
    def label(self) -> str:
        """How to name the account to a person: its handle when it has one."""
        return f"{self.name} ({self.handle})" if self.handle else self.name


@dataclass(frozen=True)
class Config:
    """A loaded and validated accounts.yaml."""

    path: Path
    boroughs: Mapping[str, Borough]
    personalities: Mapping[str, Personality]
    accounts: tuple[Account, ...]
    timezone: str | None = None  # IANA name for {{ now }}; None means the machine's own
    # X app (named by its consumer-key variable) -> its access tier, one of xtiers.TIERS
    x_apps: Mapping[str, str] = field(default_factory=dict)
    # Every broadcast is a public-safety announcement (an alert service): X's exception for
    # identical posts on several accounts always applies.
    public_safety_only: bool = False
    # Where a broadcast must be approved before it goes out, and by whom (``approvals:``);
    # None when the file says nothing of approvals.
    approval_policy: ApprovalPolicy | None = None

    @property
    def approvals(self) -> ApprovalPolicy:
        """The file's approval policy, else one that needs no approval anywhere."""
        if self.approval_policy is not None:
            return self.approval_policy
        from metpost.approvals import ApprovalPolicy

        return ApprovalPolicy()

    @property
    def approvals_configured(self) -> bool:
        """Approval is needed somewhere (answered without loading the approval rules)."""
        return self.approval_policy is not None and self.approval_policy.configured

    @property
    def templates_dir(self) -> Path:
        """Templates live in ``templates/`` beside the config file."""
        return self.path.parent / "templates"


@dataclass(frozen=True)
class ThreadPart:
    """One part of a thread: its text (ending in its number, ``2/3``) and its length, counted
    the platform's way."""

    text: str
    length: int


@dataclass(frozen=True)
class Post:
    """A finished message for one account, before or after checks."""

    account: Account
    text: str
    length: int = 0
    limit: int = 0
    problems: tuple[str, ...] = ()
    missing_credentials: tuple[str, ...] = ()
    repost_of: str | None = None  # a repost of this account's post in the same broadcast
    # A text too long for one post, sent as a thread (--thread): its parts, numbered; empty
    # when the text goes out as one post.
    parts: tuple[ThreadPart, ...] = ()
    media: tuple[Media, ...] = ()  # the images it carries (a thread's, on its first part)

    @property
    def ok(self) -> bool:
        """The text itself is fit to send (credentials are judged separately)."""
        return not self.problems

    @property
    def ready(self) -> bool:
        """The post could be sent right now."""
        return self.ok and not self.missing_credentials


@dataclass(frozen=True)
class SendResult:
    """What became of one post in this run (``status`` is one of ``PostStatus``).

    ``text`` is the text the ledger recorded, which is what the platform holds or would hold.
    """

    account: Account
    text: str
    status: PostStatus
    remote_id: str | None = None
    url: str | None = None
    error: str | None = None
    attempts: int = 0
    problem: str | None = None  # what a person must fix (PublishError.problem), if anything
    permission: str | None = None  # the permission to grant, when problem is "permission"

    @property
    def delivered(self) -> bool:
        """The post is on the platform."""
        return self.status.delivered
