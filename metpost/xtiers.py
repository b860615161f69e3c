"""X's access tiers as data: their documented caps on posting and their prices, in one table.

Every figure comes from X's own documentation, read from its source repository
(github.com/xdevplatform/docs) on the date in ``CHECKED``:

- Pay-per-use, the default since 6 February 2026: ``POST /2/tweets`` 10,000 per 24 hours per app
  and 100 per 15 minutes per user; ``POST /2/users/:id/retweets`` 50 per 15 minutes per user
  (https://docs.x.com/x-api/fundamentals/rate-limits). Prices per request, effective 20 April
  2026: "Post: Create" $0.015, "Post: Create (with URL)" $0.200, and a repost is a "User
  Interaction: Create", $0.015 (https://docs.x.com/x-api/getting-started/pricing; the docs'
  price widget files ``repost-post`` under that heading). "Prices are subject to change."
- Free, Basic and Pro, the older subscriptions ("Basic and Pro plans remain available"): the
  tier table of the same rate-limits page as it stood on 1 December 2025 (docs commit
  7c59f7be), before the tiers were taken out of it. Free: 17 posts per 24 hours per user and per
  app, 1 repost per 15 minutes; Basic: 100 per 24 hours per user and 1,667 per app, 5 reposts
  per 15 minutes; Pro: 100 per 15 minutes per user and 10,000 per 24 hours per app, 50 reposts
  per 15 minutes. A subscription has no price per post.

A post counts as "with URL" when X would find a link in it, bare domains such as
``met.police.uk/roads`` included (X links those too); that reading of the price list is ours.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from metpost.models import Post

CHECKED = "2026-08-22"  # when the figures below were read from X's documentation
PRICING_URL = "https://docs.x.com/x-api/getting-started/pricing"
LIMITS_URL = "https://docs.x.com/x-api/fundamentals/rate-limits"
DEFAULT_TIER = "pay-per-use"
X_PLATFORM = "x"


@dataclass(frozen=True)
class XTier:
    """One way of paying for X's API, with what it allows and what it costs."""

    name: str
    posts_per_day_per_user: int | None  # POST /2/tweets in 24 hours; None: no 24-hour cap
    posts_per_day_per_app: int
    posts_per_15_minutes_per_user: int | None
    reposts_per_15_minutes_per_user: int
    price_post: float | None  # US dollars per request; None: paid by subscription
    price_post_with_link: float | None
    price_repost: float | None
    source: str


TIERS: Mapping[str, XTier] = {
    "pay-per-use": XTier("pay-per-use", None, 10_000, 100, 50, 0.015, 0.200, 0.015,
                         f"{PRICING_URL}; {LIMITS_URL} (read {CHECKED})"),
    "free": XTier("free", 17, 17, None, 1, None, None, None,
                  f"{LIMITS_URL} as of 2025-12-01 (docs commit 7c59f7be)"),
    "basic": XTier("basic", 100, 1_667, None, 5, None, None, None,
                   f"{LIMITS_URL} as of 2025-12-01 (docs commit 7c59f7be)"),
    "pro": XTier("pro", None, 10_000, 100, 50, None, None, None,
                 f"{LIMITS_URL} as of 2025-12-01 (docs commit 7c59f7be)"),
}


@dataclass(frozen=True)
class AppUsage:
    """What one broadcast asks of one X app: its posts and reposts, against its tier."""

    app: str  # the consumer-key variable that names the app
    tier: XTier
    accounts: int
    posts: int
    posts_with_link: int
    reposts: int

    @property
    def cost(self) -> float | None:
        """US dollars at the tier's prices; None on a subscription tier."""
        tier = self.tier
        if tier.price_post is None or tier.price_post_with_link is None or (
                tier.price_repost is None):
            return None
        plain = self.posts - self.posts_with_link
        return round(plain * tier.price_post + self.posts_with_link * tier.price_post_with_link
                     + self.reposts * tier.price_repost, 3)

    @property
    def over(self) -> list[str]:
        """Each documented cap this broadcast alone would exceed, in words."""
        tier = self.tier
        problems = []
        if self.posts > tier.posts_per_day_per_app:
            problems.append(f"{self.posts} posts exceed the {tier.name} tier's "
                            f"{tier.posts_per_day_per_app:,} posts per 24 hours per app")
        # Each account makes at most one post (or repost) per broadcast, so the per-user caps
        # are only exceeded by a tier that allows none.
        return problems

    @property
    def fits(self) -> bool:
        """The broadcast stays within the tier's documented caps."""
        return not self.over


def usage_by_app(posts: Iterable[tuple[str, bool, bool]], apps: Mapping[str, str]
                 ) -> list[AppUsage]:
    """Group X posts by app. Each post is (app variable, has a link, is a repost); ``apps``
    maps an app variable to its tier name (the default tier when not listed)."""
    grouped: dict[str, list[tuple[bool, bool]]] = {}
    for app, linked, repost in posts:
        grouped.setdefault(app, []).append((linked, repost))
    usage = []
    for app, items in grouped.items():
        originals = [linked for linked, repost in items if not repost]
        usage.append(AppUsage(app=app, tier=TIERS[apps.get(app, DEFAULT_TIER)],
                              accounts=len(items), posts=len(originals),
                              posts_with_link=sum(originals),
                              reposts=sum(repost for _, repost in items)))
    return usage


def x_usage(posts: Sequence[Post], apps: Mapping[str, str]) -> list[AppUsage]:
    """What a broadcast's X posts ask of each X app (named by its consumer-key variable)."""
    from dataclasses import replace

    from metpost.textrules import link_spans

    x_posts = [post for post in posts if post.account.platform == X_PLATFORM]
    # Each part of a thread is a post of its own, at its own price; the accounts are counted
    # once each.
    usage = usage_by_app([(_app_of(post), bool(link_spans(text)), post.repost_of is not None)
                          for post in x_posts
                          for text in ([part.text for part in post.parts] or [post.text])],
                         apps)
    accounts = Counter(_app_of(post) for post in x_posts)
    return [replace(app, accounts=accounts[app.app]) for app in usage]


def _app_of(post: Post) -> str:
    """The X app a post goes through, named by its consumer-key variable."""
    return post.account.credentials.get("consumer_key", post.account.name)
