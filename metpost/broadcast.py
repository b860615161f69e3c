"""A broadcast built and checked: select → render → check, with nothing sent.

``prepare`` finds everything that can be wrong with the input before anything is recorded or
sent; ``metpost.runner`` records and delivers what it returns. A dry run needs only this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from metpost.characters import CONTROL_CHARACTER, SURROGATE
from metpost.destinations import local_problems
from metpost.errors import MetpostError, TemplateError
from metpost.models import Account, Config, Post, ThreadPart
from metpost.plugins import platform_classes
from metpost.render import MessageTemplate, Renderer, bind_variables
from metpost.secrets import credential_problems, resolve_credentials
from metpost.selection import Selection, choose_accounts
from metpost.similarity import SimilarGroup, similar_x_groups
from metpost.suggest import did_you_mean
from metpost.template_check import variable_problems, variant_problems

if TYPE_CHECKING:
    from metpost.media import ImageSpec
    from metpost.platforms.api import Media, Platform


@dataclass(frozen=True)
class Broadcast:
    """One message, rendered and checked for every selected account."""

    template: MessageTemplate
    posts: tuple[Post, ...]
    skipped: tuple[Account, ...] = ()  # planned or paused accounts the selection reached
    # X posts on several accounts with the same content, which X's rules forbid unless the
    # broadcast is a public-safety announcement (``public_safety``)
    x_groups: tuple[SimilarGroup, ...] = ()
    public_safety: bool = False  # declared for this broadcast (--public-safety); recorded
    public_safety_only: bool = False  # the config says every broadcast is one

    @property
    def ok(self) -> bool:
        """Every text passed its checks."""
        return all(post.ok for post in self.posts)

    @property
    def ready(self) -> bool:
        """Every post could be sent now (texts pass, credentials are set, and X's rule on the
        same content on several accounts is kept)."""
        return all(post.ready for post in self.posts) and not self.x_rule_problems()

    def x_rule_problems(self) -> list[str]:
        """Why X's rules forbid sending this as it is: one line per group of same-content X
        posts and what to do, unless it is declared a public-safety announcement."""
        if not self.x_groups or self.public_safety or self.public_safety_only:
            return []
        return [*(group.describe() for group in self.x_groups),
                "X's rules forbid identical or substantially similar posts on several accounts "
                "(docs.x.com/developer-terms/policy); a public-safety announcement is the "
                "exception: add --public-safety if this is one, or --x-repost-from ACCOUNT to "
                "post once and repost it from the other X accounts"]

    def blocking_problems(self) -> list[str]:
        """One line per reason this broadcast cannot be sent now."""
        lines = [f"{post.account.name}: {problem}"
                 for post in self.posts for problem in post.problems]
        missing = sorted({var for post in self.posts for var in post.missing_credentials})
        if missing:
            lines.append(f"credentials not set in the environment: {', '.join(missing)}")
        return lines + self.x_rule_problems()


def local_now(config: Config) -> datetime:
    """The time templates see: in the config's time zone, else the machine's."""
    if config.timezone:
        from zoneinfo import ZoneInfo

        return datetime.now(ZoneInfo(config.timezone))
    return datetime.now().astimezone()


def prepare(config: Config, selection: Selection, template: MessageTemplate,
            variables: Mapping[str, str], environ: Mapping[str, str],
            now: datetime | None = None, *, public_safety: bool = False,
            repost_from: str | None = None, images: Sequence[ImageSpec] = (),
            require_alt: bool = True, thread: bool = False) -> Broadcast:
    """Render and check a post for each selected live account. Raises on bad input; never
    sends. ``public_safety`` declares the broadcast a public-safety announcement (X's exception
    to its rule on the same content on several accounts); ``repost_from`` names the account
    whose post the other selected accounts on its platform repost instead of posting.
    ``images`` (``--image``) go with every post, after the template's own; each needs its alt
    text unless not ``require_alt`` (``--no-alt``). With ``thread``, a text too long for a
    platform that takes threads becomes a thread of numbered parts that each fit."""
    platforms = platform_classes()
    chosen = choose_accounts(config, selection, platforms)
    accounts = chosen.accounts
    bound = bind_variables(template, variables, {account.platform for account in accounts})
    # Mistakes nothing can fill are one line each, not one per account.
    mistakes = (variant_problems(template, platforms)
                + variable_problems(template, config, accounts, given=variables))
    if mistakes:
        raise TemplateError(*mistakes)
    media_for = _images_by_platform(config, template, {a.platform for a in accounts}, images,
                                    require_alt)
    renderer = Renderer(config, template, bound, now or local_now(config))
    texts: list[tuple[Account, str]] = []
    errors: dict[str, None] = {}  # ordered set: one line per distinct render error
    with renderer.many():
        for account in accounts:
            try:
                text = renderer.render(account)
            except TemplateError as error:
                errors.update(dict.fromkeys(error.problems))
                continue
            if (half := SURROGATE.search(text)) is not None:
                errors[f"{template.name}: the text holds half a character (\\u{ord(half[0]):04x}),"
                       " as an escape such as \"\\ud83d\" makes: write the character itself"] = None
                continue
            texts.append((account, text))
    posts: list[Post] = []
    for account, text in texts:
        platform = platforms[account.platform]
        _, missing = resolve_credentials(account, environ)
        media = media_for[account.platform]
        problems, parts = fitted(platform, account.settings, text, thread=thread)
        if (control := CONTROL_CHARACTER.search(text)) is not None:
            problems = (*problems, f"the text holds a control character (U+{ord(control[0]):04X}"
                        "), which no platform shows; remove it from the template or --var")
        posts.append(Post(account=account, text=text, length=platform.length(text),
                          limit=platform.limits_for(account.settings).max_length,
                          problems=(*problems, *platform.media_problems(media),
                                    *credential_problems(account, environ),
                                    *local_problems(account)),
                          missing_credentials=tuple(missing), media=media,
                          parts=tuple(ThreadPart(part, platform.length(part))
                                      for part in parts)))
    if errors:
        raise TemplateError(*errors)
    if repost_from is not None:
        posts = as_reposts(posts, repost_from)
    return Broadcast(template=template, posts=tuple(posts), skipped=tuple(chosen.skipped),
                     x_groups=tuple(similar_x_groups(posts, config)),
                     public_safety=public_safety,
                     public_safety_only=config.public_safety_only)


def fitted(platform: type[Platform], settings: Mapping[str, str], text: str, *,
           thread: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The text's problems on an account of ``platform``, and its thread's parts (none when
    it goes out as one post). A text too long for a platform that takes threads is split when
    ``thread``; otherwise its problem says that ``--thread`` would post it."""
    from metpost.platforms.graphemes import shows_nothing

    problems = platform.check(text, settings)
    if not problems or shows_nothing(text):
        return tuple(problems), ()
    from metpost.threads import MAX_PARTS, split_thread

    if not platform.capabilities.threads:
        if thread:
            problems[-1] += f" ({platform.title} posts cannot be threaded)"
        return tuple(problems), ()
    parts = split_thread(text, lambda part: not platform.check(part, settings))
    if parts is None:
        if thread:
            problems[-1] += (f"; it cannot be split into a thread of at most {MAX_PARTS} parts "
                             "that fit")
        return tuple(problems), ()
    if len(parts) < 2:  # splitting does not cure what is wrong with it
        return tuple(problems), ()
    if thread:
        return (), tuple(parts)
    problems[-1] += f"; shorten it, or add --thread to post it as a thread of {len(parts)}"
    return tuple(problems), ()


def _images_by_platform(config: Config, template: MessageTemplate, platforms: Iterable[str],
                        given: Sequence[ImageSpec], require_alt: bool
                        ) -> dict[str, tuple[Media, ...]]:
    """The images each platform's posts carry: the template's (its variant's, if the variant
    declares its own), then the ``--image`` ones, none twice; every file read and checked
    once, and every problem reported at once."""
    from metpost.media import command_line_images, repeated_images, template_images

    problems: list[str] = []
    try:
        extra = command_line_images(given, require_alt=require_alt)
    except MetpostError as error:
        problems.extend(error.problems)
        extra = []
    loaded: dict[tuple[ImageSpec, ...], list[Media]] = {}
    chosen: dict[str, tuple[Media, ...]] = {}
    for platform in sorted(platforms):
        specs = template.images_for(platform)
        if specs not in loaded:
            try:
                loaded[specs] = template_images(specs, config.templates_dir,
                                                require_alt=require_alt)
            except MetpostError as error:
                problems.extend(line for line in error.problems if line not in problems)
                loaded[specs] = []
        chosen[platform] = (*loaded[specs], *extra)
        if len(loaded[specs]) == len(specs) and len(extra) == len(given):  # each was read
            problems.extend(line for line in repeated_images(
                [*zip(specs, loaded[specs], strict=True), *zip(given, extra, strict=True)])
                if line not in problems)
    if problems:
        raise TemplateError(*problems)
    return chosen


def as_reposts(posts: Sequence[Post], source_name: str) -> list[Post]:
    """The posts with every other account on ``source_name``'s platform reposting its post
    instead of posting its own text; raises if the source cannot be reposted from."""
    source = next((post for post in posts if post.account.name == source_name), None)
    if source is None:
        names = [post.account.name for post in posts]
        raise MetpostError(f"--x-repost-from {source_name}: not one of the selected accounts"
                           f"{did_you_mean(source_name, names)}; select it too")
    platform = platform_classes()[source.account.platform]
    if not platform.capabilities.reposts:
        raise MetpostError(f"--x-repost-from {source_name}: {platform.title} posts cannot be "
                           "reposted by metpost; name an X account")
    return [post if post.account.platform != source.account.platform or post is source
            else replace(post, text=source.text, length=source.length, limit=source.limit,
                         problems=(), repost_of=source.account.name, parts=(), media=())
            for post in posts]
