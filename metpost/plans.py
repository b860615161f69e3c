"""A plan: a broadcast written down before it is sent, to review, approve, keep and apply.

``metpost send ... --plan FILE`` writes one. It is JSON, its keys always in the same order,
indented so that two plans compare line by line in a diff:

    {
      "metpost_plan": 1,
      "digest": "sha256:…",           # of "content", computed as below
      "content": {                    # what is reviewed: everything that decides what goes out
        "id": …, "created_at": …, "expires_at": …,
        "author": {"name": …, "os_user": …, "host": …},
        "template": …, "request": {the selection, vars, message …  it came from},
        "key": …, "public_safety": …,
        "posts": [{"account", "platform", "handle", "destination", "text", "parts", "images",
                   "repost_of"}]
      },
      "approvals": [{"by", "os_user", "host", "at", "digest"}]   # for people to see
    }

The digest is SHA-256 over ``content`` alone, as canonical JSON (keys sorted, no spaces,
UTF-8), so the approvals written beside it never change it, and neither does re-indenting the
file; changing any text, image, account or time in ``content`` does. The ledger, not the file,
is what ``apply`` believes: the digest recorded when the plan was made, and the approvals
recorded for that digest. Nothing here reads a file, the ledger or the clock.

A post's ``destination`` is what, besides its platform and handle, says where it goes: the
account's ``api_url`` and the platform's settings that name the page, receiver or file (each
platform declares them: ``Platform.destination_fields``). ``apply`` refuses an account whose
destination is not what was approved, so an edit to accounts.yaml can never send an approved
text somewhere else.

Reading is bounded: a file larger than ``MAX_PLAN_BYTES``, nested deeper than ``MAX_DEPTH``,
with numbers no plan has (``NaN``, ``Infinity``, hundreds of digits) or text that is not
Unicode is refused in one line, before anything looks inside it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metpost.audit import Actor, EventKind, Outcome
from metpost.destinations import DIGEST_PREFIX, destination_record, shown, shown_key
from metpost.errors import MetpostError
from metpost.platforms.api import Media

if TYPE_CHECKING:
    from metpost.ledger.records import AuditEvent
    from metpost.models import Post

PLAN_FORMAT = 1
FORMAT_KEY = "metpost_plan"

# Far above any real plan (a hundred accounts' posts take a few hundred KB), far below what
# would trouble the machine reading it.
MAX_PLAN_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 32  # a plan is 6 deep; json's own limit is Python's recursion limit, a crash
MAX_NUMBER_CHARACTERS = 30  # a plan's numbers (its format, image sizes) have a dozen at most
MAX_PROBLEMS = 20  # shape problems listed; a file with more is not a plan gone slightly wrong

class PlanError(MetpostError):
    """A plan file that cannot be read as one (its name and the field say where)."""


@dataclass(frozen=True)
class PlanImage:
    """An image a planned post carries, as it was checked when the plan was made."""

    path: str  # absolute, as checked
    mime_type: str
    size: int
    sha256: str
    alt: str

    def media(self) -> Media:
        """The image as the delivery engine takes it (it checks the file again before use)."""
        return Media(path=Path(self.path), mime_type=self.mime_type, alt_text=self.alt,
                     sha256=self.sha256, size=self.size)


@dataclass(frozen=True)
class PlanPost:
    """One post exactly as it will go out."""

    account: str
    platform: str
    handle: str | None
    text: str
    parts: tuple[str, ...] = ()  # a thread's parts, numbered; empty for one post
    images: tuple[PlanImage, ...] = ()
    repost_of: str | None = None  # the account whose post (in this plan) it reposts
    # where it goes besides platform and handle (``destination_record``); None in a plan
    # written before metpost recorded it
    destination: Mapping[str, str | None] | None = None


@dataclass(frozen=True)
class PlanApproval:
    """An approval as the plan file shows it (the ledger holds the one that counts)."""

    by: str
    os_user: str
    host: str
    at: str
    digest: str


@dataclass(frozen=True)
class Plan:
    """A plan file, read and checked for shape. ``digest`` is computed from its content;
    ``stated_digest`` is what the file says it is."""

    id: str
    digest: str
    stated_digest: str
    created_at: datetime
    expires_at: datetime
    author: Actor
    template: str  # the template's name, or --message
    request: Mapping[str, Any]
    key: str | None
    public_safety: bool
    posts: tuple[PlanPost, ...]
    approvals: tuple[PlanApproval, ...]
    document: Mapping[str, Any]  # the whole file as read

    @property
    def accounts(self) -> list[str]:
        """The accounts it posts to, in its order."""
        return [post.account for post in self.posts]

    @property
    def short_id(self) -> str:
        """The first characters of its id, as people quote it."""
        return self.id[:12]


# -- writing ----------------------------------------------------------------------------------

def content_digest(content: Mapping[str, Any]) -> str:
    """``sha256:`` and the hex SHA-256 of ``content`` as canonical JSON."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return DIGEST_PREFIX + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def moment_text(moment: datetime) -> str:
    """A time as plans and the ledger write it: ISO 8601 in UTC, to the second."""
    from datetime import UTC

    return moment.astimezone(UTC).isoformat(timespec="seconds")


def post_content(post: Post) -> dict[str, Any]:
    """A checked post as the plan writes it."""
    return {
        "account": post.account.name,
        "platform": post.account.platform,
        "handle": post.account.handle,
        "destination": destination_record(post.account),
        "text": post.text,
        "parts": [part.text for part in post.parts],
        "images": [{"path": str(item.path), "type": item.mime_type, "size": item.size,
                    "sha256": item.sha256, "alt": item.alt_text} for item in post.media],
        "repost_of": post.repost_of,
    }


def plan_content(posts: Sequence[Post], *, plan_id: str, author: Actor, created_at: datetime,
                 expires_after: timedelta, template: str, request: Mapping[str, Any],
                 key: str | None, public_safety: bool) -> dict[str, Any]:
    """The content of a plan for ``posts`` (rendered and checked as a send would)."""
    return {
        "id": plan_id,
        "created_at": moment_text(created_at),
        "expires_at": moment_text(created_at + expires_after),
        "author": {"name": author.name, "os_user": author.os_user, "host": author.host},
        "template": template,
        "request": dict(request),
        "key": key,
        "public_safety": public_safety,
        "posts": [post_content(post) for post in posts],
    }


def plan_document(content: Mapping[str, Any],
                  approvals: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The whole file: format, digest, content, approvals, in that order."""
    return {FORMAT_KEY: PLAN_FORMAT, "digest": content_digest(content), "content": content,
            "approvals": list(approvals)}


def dump_plan(document: Mapping[str, Any]) -> str:
    """A plan's text: indented JSON, keys in the order they were made, ending in a newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def approval_entry(event: AuditEvent) -> dict[str, Any]:
    """A recorded approval as the plan file shows it."""
    return {"by": event.actor, "os_user": event.os_user, "host": event.host, "at": event.at,
            "digest": event.plan_digest}


def with_approval(plan: Plan, entry: Mapping[str, Any]) -> dict[str, Any]:
    """The plan's document with one more approval shown; its content (and digest) as it was."""
    document = dict(plan.document)
    document["approvals"] = [*document.get("approvals", []), dict(entry)]
    return document


# -- reading ----------------------------------------------------------------------------------

class _Reader:
    """Checks a parsed plan's shape, collecting every problem with the field it is in."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.problems: list[str] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{self.name}: {where}: {message}")

    def mapping(self, value: object, where: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            self.problem(where, "must be a JSON object")
            return {}
        return value

    def text(self, value: object, where: str, *, optional: bool = False) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(where, "must be a string" + ("" if optional else ", not empty"))
            return None
        return value

    def integer(self, value: object, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.problem(where, "must be a whole number")
            return 0
        return value

    def flag(self, value: object, where: str) -> bool:
        if not isinstance(value, bool):
            self.problem(where, "must be true or false")
            return False
        return value

    def listed(self, value: object, where: str) -> list[Any]:
        if not isinstance(value, list):
            self.problem(where, "must be a JSON list")
            return []
        return value

    def moment(self, value: object, where: str) -> datetime | None:
        text = self.text(value, where)
        if text is None:
            return None
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.problem(where, f"{shown(text)} is not an ISO 8601 time")
            return None
        if moment.tzinfo is None:
            self.problem(where, f"{shown(text)} has no UTC offset")
            return None
        return moment

    def known_keys(self, value: Mapping[str, Any], where: str, keys: Sequence[str],
                   optional: Sequence[str] = ()) -> None:
        for key in value:
            if key not in keys and key not in optional:
                shown = shown_key(key)
                self.problem(f"{where}.{shown}" if where else shown, "not a key plans have")
        for key in keys:
            if key not in value:
                self.problem(where or "plan", f"missing '{key}'")

    def destination(self, value: object, where: str) -> Mapping[str, str | None] | None:
        if value is None:
            return None
        record = self.mapping(value, where)
        for key, item in record.items():
            if item is not None and not isinstance(item, str):
                self.problem(f"{where}.{shown_key(key)}", "must be a string or null")
        return record


CONTENT_KEYS = ("id", "created_at", "expires_at", "author", "template", "request", "key",
                "public_safety", "posts")
POST_KEYS = ("account", "platform", "handle", "text", "parts", "images", "repost_of")
OPTIONAL_POST_KEYS = ("destination",)  # plans written before it was recorded have none
IMAGE_KEYS = ("path", "type", "size", "sha256", "alt")
APPROVAL_KEYS = ("by", "os_user", "host", "at", "digest")


def parse_plan(text: str, name: str) -> Plan:
    """The plan in ``text`` (read from ``name``, for messages); raises ``PlanError`` naming
    every field that is not as a plan has it (the first ``MAX_PROBLEMS`` of them)."""
    document = plan_json(text, name)
    if not isinstance(document, dict) or FORMAT_KEY not in document:
        raise PlanError(f"{name}: not a metpost plan (no \"{FORMAT_KEY}\" key); make one with "
                        "metpost send ... --plan FILE")
    stated_format = document[FORMAT_KEY]
    if isinstance(stated_format, bool) or not isinstance(stated_format, int):
        raise PlanError(f"{name}: not a metpost plan (\"{FORMAT_KEY}\" is not a format number)")
    if stated_format != PLAN_FORMAT:
        raise PlanError(f"{name}: a plan of format {stated_format}; this metpost "
                        f"reads format {PLAN_FORMAT}")
    reader = _Reader(name)
    reader.known_keys(document, "", (FORMAT_KEY, "digest", "content", "approvals"))
    content = reader.mapping(document.get("content"), "content")
    reader.known_keys(content, "content", CONTENT_KEYS)
    author = reader.mapping(content.get("author"), "content.author")
    reader.known_keys(author, "content.author", ("name", "os_user", "host"))
    posts = tuple(_post(reader, item, f"content.posts[{index}]") for index, item in
                  enumerate(reader.listed(content.get("posts"), "content.posts")))
    if not posts and not reader.problems:
        reader.problem("content.posts", "a plan posts to at least one account")
    counted = Counter(post.account for post in posts)
    for twice in sorted(account for account, times in counted.items() if times > 1):
        reader.problem("content.posts", f"account {shown(twice)} is given more than once")
    approvals = tuple(_approval(reader, item, f"approvals[{index}]") for index, item in
                      enumerate(reader.listed(document.get("approvals", []), "approvals")))
    plan_id = reader.text(content.get("id"), "content.id")
    created = reader.moment(content.get("created_at"), "content.created_at")
    expires = reader.moment(content.get("expires_at"), "content.expires_at")
    made_by = Actor(name=reader.text(author.get("name"), "content.author.name") or "",
                    os_user=reader.text(author.get("os_user"), "content.author.os_user") or "",
                    host=reader.text(author.get("host"), "content.author.host") or "")
    template = reader.text(content.get("template"), "content.template")
    request = reader.mapping(content.get("request"), "content.request")
    key = reader.text(content.get("key"), "content.key", optional=True)
    public_safety = reader.flag(content.get("public_safety"), "content.public_safety")
    stated = document.get("digest")
    if not isinstance(stated, str):
        reader.problem("digest", "must be a string")
    if len(reader.problems) > MAX_PROBLEMS:
        more = len(reader.problems) - MAX_PROBLEMS
        raise PlanError(*reader.problems[:MAX_PROBLEMS],
                        f"{name}: and {more} more problem{'s' if more != 1 else ''}")
    if reader.problems:
        raise PlanError(*reader.problems)
    assert plan_id and created and expires and template  # the reader said so otherwise
    return Plan(id=plan_id, digest=content_digest(content), stated_digest=str(stated),
                created_at=created, expires_at=expires, author=made_by, template=template,
                request=request, key=key, public_safety=public_safety, posts=posts,
                approvals=approvals, document=document)


class _NotJson(ValueError):
    """Text json would read, or crash on, that no plan holds (a reason, for the message)."""


def _whole_number(digits: str) -> int:
    if len(digits) > MAX_NUMBER_CHARACTERS:
        raise _NotJson(f"a number of {len(digits)} digits")
    return int(digits)


def _fraction(text: str) -> float:
    value = float(text) if len(text) <= MAX_NUMBER_CHARACTERS else math.inf
    if not math.isfinite(value):
        raise _NotJson(f"the number {text}, too large to read" if len(text) <= 20
                       else f"a number of {len(text)} characters")
    return value


def _constant(literal: str) -> float:
    raise _NotJson(f"{literal}, which is not JSON")


def _too_large(name: str) -> PlanError:
    return PlanError(f"{name}: not a metpost plan: larger than "
                     f"{MAX_PLAN_BYTES // (1024 * 1024)} MB")


def plan_text(data: bytes, name: str) -> str:
    """A plan file's bytes (``MAX_PLAN_BYTES`` and one at most) as text, or a PlanError.

    A byte order mark before the text (a Windows editor saves one) is not part of it: the
    digest is of the parsed content, so the plan is the same plan with it or without."""
    if len(data) > MAX_PLAN_BYTES:
        raise _too_large(name)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PlanError(f"{name}: not a metpost plan (not UTF-8 text)") from None


def plan_json(text: str, name: str) -> object:
    """``text`` read as JSON, or a one-line PlanError: too large, not JSON, nested deeper than
    any plan is, numbers no plan has, or escapes that are not Unicode text."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_PLAN_BYTES:
        raise _too_large(name)
    try:
        document = json.loads(text, parse_int=_whole_number, parse_float=_fraction,
                              parse_constant=_constant)
    except json.JSONDecodeError as error:
        raise PlanError(f"{name}: not a metpost plan: invalid JSON at line {error.lineno}: "
                        f"{error.msg}") from None
    except _NotJson as error:
        raise PlanError(f"{name}: not a metpost plan: it holds {error}") from None
    except RecursionError:
        raise PlanError(f"{name}: not a metpost plan: nested more than {MAX_DEPTH} deep") from None
    problem = _unplanlike(document)
    if problem:
        raise PlanError(f"{name}: not a metpost plan: {problem}")
    return document


def _unplanlike(document: object) -> str | None:
    """Why a parsed document cannot be a plan whatever its keys: nested deeper than
    ``MAX_DEPTH``, or a string that is not Unicode text (a lone surrogate escape, which
    cannot be written as UTF-8, so not digested). Walked without recursion."""
    pending: list[tuple[object, int]] = [(document, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return f"nested more than {MAX_DEPTH} deep"
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                pending.append((item, depth + 1))
                if isinstance(key, str):
                    pending.append((key, depth + 1))
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "it holds a \\u escape that is not Unicode text (a lone surrogate)"
    return None


def _post(reader: _Reader, item: object, where: str) -> PlanPost:
    value = reader.mapping(item, where)
    if not value:
        return PlanPost(account="", platform="", handle=None, text="")
    reader.known_keys(value, where, POST_KEYS, OPTIONAL_POST_KEYS)
    parts = tuple(reader.text(part, f"{where}.parts[{number}]") or "" for number, part in
                  enumerate(reader.listed(value.get("parts", []), f"{where}.parts")))
    images = []
    for number, entry in enumerate(reader.listed(value.get("images", []), f"{where}.images")):
        place = f"{where}.images[{number}]"
        image = reader.mapping(entry, place)
        if not image:
            continue
        reader.known_keys(image, place, IMAGE_KEYS)
        alt = image.get("alt")
        if not isinstance(alt, str):
            reader.problem(f"{place}.alt", "must be a string (empty for none)")
        images.append(PlanImage(path=reader.text(image.get("path"), f"{place}.path") or "",
                                mime_type=reader.text(image.get("type"), f"{place}.type") or "",
                                size=reader.integer(image.get("size"), f"{place}.size"),
                                sha256=reader.text(image.get("sha256"), f"{place}.sha256") or "",
                                alt=alt if isinstance(alt, str) else ""))
    text = value.get("text")
    if not isinstance(text, str):
        reader.problem(f"{where}.text", "must be a string")
    return PlanPost(account=reader.text(value.get("account"), f"{where}.account") or "",
                    platform=reader.text(value.get("platform"), f"{where}.platform") or "",
                    handle=reader.text(value.get("handle"), f"{where}.handle", optional=True),
                    text=text if isinstance(text, str) else "", parts=parts,
                    images=tuple(images),
                    repost_of=reader.text(value.get("repost_of"), f"{where}.repost_of",
                                          optional=True),
                    destination=reader.destination(value.get("destination"),
                                                   f"{where}.destination"))


def _approval(reader: _Reader, item: object, where: str) -> PlanApproval:
    value = reader.mapping(item, where)
    reader.known_keys(value, where, APPROVAL_KEYS)
    fields = {key: reader.text(value.get(key), f"{where}.{key}") or "" for key in APPROVAL_KEYS}
    return PlanApproval(**fields)


# -- verifying --------------------------------------------------------------------------------

def recorded_plan(plan: Plan, events: Sequence[AuditEvent]) -> AuditEvent | None:
    """The ledger's record of the plan being made (its author and digest), if any."""
    return next((event for event in events if event.kind == EventKind.PLAN
                 and event.outcome == Outcome.PLANNED and event.plan_id == plan.id), None)


def recorded_approvals(plan: Plan, events: Sequence[AuditEvent],
                       digest: str | None = None) -> list[AuditEvent]:
    """The approvals the ledger holds for the plan's content (or for ``digest``)."""
    wanted = digest or plan.digest
    return [event for event in events if event.kind == EventKind.APPROVE
            and event.outcome == Outcome.APPROVED and event.plan_id == plan.id
            and event.plan_digest == wanted]


def integrity_problems(plan: Plan, events: Sequence[AuditEvent], name: str,
                       ledger: str) -> list[str]:
    """Why the plan in file ``name`` is not the one recorded in ``ledger`` when it was made
    (never recorded, or its content changed since); empty when it is."""
    made = recorded_plan(plan, events)
    if made is None:
        return [f"{name}: plan {plan.short_id} is not recorded in {ledger}; plans are made "
                "with metpost send --plan FILE and approved and applied with the same ledger"]
    if made.plan_digest == plan.digest:
        return []
    after = ("approved" if recorded_approvals(plan, events, made.plan_digest) else "made")
    return [f"{name} was edited after it was {after}: its content's digest is now "
            f"{plan.digest}, but plan {plan.short_id} was {after} as {made.plan_digest}. "
            "Make a new plan with metpost send --plan, and have it approved"]


def expiry(plan: Plan, expires_after: timedelta) -> datetime:
    """When the plan stops being applicable: its written expiry, or sooner if the config now
    allows less time after it was made."""
    return min(plan.expires_at, plan.created_at + expires_after)
