"""What a broadcast's preview adds about rollout and X: accounts skipped because they are not
live, X posts that X's rules count as the same content, reposts, and what the X posts ask of
each X app (its tier's caps, and on pay-per-use their price).

In JSON these are keys of the preview's document; otherwise lines on stderr, so that the
preview itself reads the same as ever.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from metpost.output.base import Mode, note

if TYPE_CHECKING:
    from metpost.broadcast import Broadcast
    from metpost.models import Config
    from metpost.xtiers import AppUsage

SHOWN_SKIPPED = 8


def broadcast_document(broadcast: Broadcast, config: Config) -> dict[str, Any]:
    """The keys a preview's JSON document gains (those that have something to say)."""
    from metpost.xtiers import x_usage

    document: dict[str, Any] = {}
    if broadcast.skipped:
        document["skipped"] = [{"account": a.name, "status": a.status}
                               for a in broadcast.skipped]
    if broadcast.x_groups:
        document["x_rules"] = {
            "groups": [{"accounts": list(g.accounts), "identical": g.identical}
                       for g in broadcast.x_groups],
            "public_safety": broadcast.public_safety,
            "allowed": not broadcast.x_rule_problems()}
    usage = x_usage(broadcast.posts, config.x_apps)
    if usage:
        document["x_usage"] = [_usage_record(app) for app in usage]
    return document


def _usage_record(app: AppUsage) -> dict[str, Any]:
    return {"app": app.app, "x_access": app.tier.name, "accounts": app.accounts,
            "posts": app.posts, "posts_with_link": app.posts_with_link, "reposts": app.reposts,
            "fits": app.fits, "over": app.over, "cost_usd": app.cost}


def broadcast_lines(broadcast: Broadcast, config: Config, *, preview: bool = True) -> list[str]:
    """The same, as lines for a person; when not a ``preview`` (a send under way), only the
    accounts skipped."""
    from metpost.xtiers import x_usage

    lines = []
    if broadcast.skipped:
        shown = ", ".join(f"{a.name} ({a.status})" for a in broadcast.skipped[:SHOWN_SKIPPED])
        more = len(broadcast.skipped) - SHOWN_SKIPPED
        lines.append(f"skipped {len(broadcast.skipped)} account"
                     f"{'s' if len(broadcast.skipped) != 1 else ''} not live: {shown}"
                     + (f" and {more} more" if more > 0 else ""))
    if not preview:
        return lines
    for group in broadcast.x_groups:
        verdict = ("a public-safety announcement, X's exception" if
                   not broadcast.x_rule_problems() else "sending needs --public-safety (if it "
                   "is a public-safety announcement) or --x-repost-from ACCOUNT")
        lines.append(f"X rules: {group.describe()}; {verdict}")
    reposting: dict[str, list[str]] = {}
    for post in broadcast.posts:
        if post.repost_of:
            reposting.setdefault(post.repost_of, []).append(post.account.name)
    for source, accounts in reposting.items():
        lines.append(f"X: one post from {source}, reposted by {', '.join(accounts)}")
    usage = x_usage(broadcast.posts, config.x_apps)
    if len(usage) == 1:
        lines.append(_usage_line(usage[0]))
    elif usage:
        # Many apps (an app per account, say): one line for all, and one per app over its caps.
        lines.append(_usage_summary(usage))
        lines += [_usage_line(app) for app in usage if not app.fits]
    return lines


def _usage_summary(usage: list[AppUsage]) -> str:
    from metpost.xtiers import CHECKED, PRICING_URL

    posts = sum(app.posts for app in usage)
    linked = sum(app.posts_with_link for app in usage)
    reposts = sum(app.reposts for app in usage)
    tiers = ", ".join(sorted({app.tier.name for app in usage}))
    made = f"{posts} post{'s' if posts != 1 else ''}"
    if linked:
        made += f" ({linked} with a link)"
    if reposts:
        made += f" and {reposts} repost{'s' if reposts != 1 else ''}"
    costs = [app.cost for app in usage if app.cost is not None]
    cost = (f", about ${sum(costs):,.3f} at X's prices ({PRICING_URL.removeprefix('https://')}"
            f", read {CHECKED})") if costs else ""
    over = sum(not app.fits for app in usage)
    fits = "each within its caps" if not over else f"{over} over their caps (below)"
    return (f"X: {made} through {len(usage)} apps ({tiers}){cost}; {fits}, not counting their "
            "other posts of the last 24 hours")


def _usage_line(app: AppUsage) -> str:
    from metpost.xtiers import CHECKED, PRICING_URL

    tier = app.tier
    made = f"{app.posts} post{'s' if app.posts != 1 else ''}"
    if app.posts_with_link:
        made += f" ({app.posts_with_link} with a link)"
    if app.reposts:
        made += f" and {app.reposts} repost{'s' if app.reposts != 1 else ''}"
    caps = f"{tier.posts_per_day_per_app:,} posts per 24 hours per app"
    if tier.posts_per_day_per_user is not None:
        caps += f", {tier.posts_per_day_per_user:,} per account"
    fits = (f"within its caps ({caps})" if app.fits else "over its caps: "
            + "; ".join(app.over))
    cost = ""
    if app.cost is not None:
        cost = (f", about ${app.cost:,.3f} at X's prices "
                f"({PRICING_URL.removeprefix('https://')}, read {CHECKED})")
    return (f"X app {app.app} ({tier.name}): {made}{cost}; {fits}, not counting its other "
            "posts of the last 24 hours")


def show_broadcast_notes(broadcast: Broadcast, config: Config, mode: Mode, *,
                         preview: bool = True) -> None:
    """The lines on stderr (in JSON they are part of the document instead)."""
    if mode == "json":
        return
    for line in broadcast_lines(broadcast, config, preview=preview):
        note(line)


def extra_for(broadcast: Broadcast, config: Config, mode: Mode) -> Mapping[str, Any] | None:
    """The preview's extra JSON keys, in JSON mode."""
    return broadcast_document(broadcast, config) if mode == "json" else None
