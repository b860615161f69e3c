"""A broadcast from start to finish: select → render → check → preview or publish.

Everything that can be wrong with input is found by ``prepare`` before anything is sent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from metpost.errors import TemplateError
from metpost.models import Config, Post, SendResult
from metpost.platforms.base import Destination, PublishError, Timeouts
from metpost.plugins import platform_classes
from metpost.render import MessageTemplate, Renderer, bind_variables
from metpost.secrets import Redactor, resolve_credentials
from metpost.selection import Selection, select_accounts


@dataclass(frozen=True)
class Broadcast:
    """One message, rendered and checked for every selected account."""

    template: MessageTemplate
    posts: tuple[Post, ...]

    @property
    def ok(self) -> bool:
        """Every text passed its checks."""
        return all(post.ok for post in self.posts)

    @property
    def ready(self) -> bool:
        """Every post could be sent now (texts pass and credentials are set)."""
        return all(post.ready for post in self.posts)

    def blocking_problems(self) -> list[str]:
        """One line per reason this broadcast cannot be sent now."""
        lines = [f"{post.account.name}: {problem}"
                 for post in self.posts for problem in post.problems]
        missing = sorted({var for post in self.posts for var in post.missing_credentials})
        if missing:
            lines.append(f"credentials not set in the environment: {', '.join(missing)}")
        return lines


def prepare(config: Config, selection: Selection, template: MessageTemplate,
            variables: Mapping[str, str], environ: Mapping[str, str],
            now: datetime | None = None) -> Broadcast:
    """Render and check a post for each selected account. Raises on bad input; never sends."""
    platforms = platform_classes()
    accounts = select_accounts(config, selection, platforms)
    bound = bind_variables(template, variables)
    renderer = Renderer(config, template, bound, now or datetime.now().astimezone())
    posts: list[Post] = []
    errors: dict[str, None] = {}  # ordered set: one line per distinct render error
    for account in accounts:
        try:
            text = renderer.render(account)
        except TemplateError as error:
            errors.update(dict.fromkeys(error.problems))
            continue
        platform = platforms[account.platform]
        _, missing = resolve_credentials(account, environ)
        posts.append(Post(account=account, text=text, length=platform.length(text),
                          limit=platform.limits.max_length, problems=tuple(platform.check(text)),
                          missing_credentials=tuple(missing)))
    if errors:
        raise TemplateError(*errors)
    return Broadcast(template=template, posts=tuple(posts))


def publish(broadcast: Broadcast, environ: Mapping[str, str], *,
            timeouts: Timeouts | None = None,
            on_result: Callable[[SendResult], None] | None = None) -> list[SendResult]:
    """Send every post of a ready broadcast; one result per post, secrets redacted."""
    platforms = platform_classes()
    redact = Redactor()
    destinations = []
    for post in broadcast.posts:
        credentials, missing = resolve_credentials(post.account, environ)
        if missing:  # prepare() reports this; publishing half a broadcast is never right
            raise ValueError(f"publish() called with credentials missing for {post.account.name}")
        redact.add(credentials.values())
        destinations.append(Destination(
            account=post.account.name, handle=post.account.handle,
            settings=post.account.settings, credentials=credentials,
            api_url=post.account.api_url, timeouts=timeouts or Timeouts()))
    results = []
    for post, destination in zip(broadcast.posts, destinations, strict=True):
        client = platforms[post.account.platform](destination)
        try:
            receipt = client.publish(post.text)
            result = SendResult(post=post, status="sent", receipt=receipt)
        except PublishError as error:
            result = SendResult(post=post, status="failed", error=redact(error.reason))
        results.append(result)
        if on_result:
            on_result(result)
    return results


def exit_code_for(results: Sequence[SendResult]) -> int:
    """0 when every post went out, else 1."""
    return 0 if all(result.status == "sent" for result in results) else 1

