"""An Atom feed per account (RFC 4287), a file that a web server or a feed reader picks up.

- The account's ``path`` (relative to the accounts file's folder) is the feed; ``title`` and
  ``link`` (the page the feed belongs to) are optional. feedgen writes the XML.
- Each post is an entry whose ``atom:id`` is ``urn:uuid:`` and a name-based UUID of the post's
  idempotency key: permanent and unique, as RFC 4287 4.2.6 asks. Publishing a post whose entry
  is already in the file changes nothing, so a resend or a rerun adds nothing.
- Every feed has the elements RFC 4287 4.1.1 requires (``atom:id``, ``atom:title``,
  ``atom:updated``, and ``atom:author`` since entries have none of their own), and every entry
  its ``atom:id``, ``atom:title`` (the text's first line), ``atom:updated`` and a text
  ``atom:content``. Times are the post's first attempt, so the file does not change on a rerun.
- The file is written whole, to a temporary file in the same folder that is then renamed over
  it: a reader sees the old feed or the new one, never half of either. Writers of the same file
  (two accounts sharing it, two runs at once) take turns on a lock file beside it
  (``.NAME.lock``, ``flock``), reading the feed afresh each time.
- The file is metpost's: it is rewritten from the entries it holds (id, title, content, times);
  other elements added by hand are not kept.
- An entry is text: a broadcast with images is refused for feed accounts before anything is
  sent (a template variant may declare ``images: []``), a long text is one entry, never a
  thread, and there are no credentials for ``accounts verify`` to check.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from metpost.platforms.api import (
    Capabilities,
    Platform,
    PostRequest,
    PublishError,
    Receipt,
    RemotePost,
    TextLimits,
)

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

ATOM = "{http://www.w3.org/2005/Atom}"
ENTRY_NAMESPACE = "6f2b1c9e-4d0a-5b8e-9c3f-7a1e2d4b6c80"  # metpost's own UUID, for uuid5
TITLE_LENGTH = 80
# Characters XML 1.0 cannot hold (C0 controls other than tab and newlines, surrogates, U+FFFE/F).
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class FeedEntry:
    """One entry as the feed holds it."""

    id: str
    title: str
    content: str
    published: datetime
    updated: datetime


def entry_id(idempotency_key: str) -> str:
    """The entry's permanent ``atom:id``, the same for every attempt of the post."""
    return _name_based_urn(idempotency_key)


def _name_based_urn(name: str) -> str:
    import uuid

    return f"urn:uuid:{uuid.uuid5(uuid.UUID(ENTRY_NAMESPACE), name)}"


def entry_title(text: str) -> str:
    """A text's first line, cut to 80 characters."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if len(first) <= TITLE_LENGTH else first[:TITLE_LENGTH - 1].rstrip() + "…"


def read_feed(path: Path) -> tuple[str | None, list[FeedEntry]]:
    """The feed's id and its entries, newest first; (None, []) when there is no file yet."""
    from xml.etree import ElementTree

    try:
        root = ElementTree.parse(path).getroot()
    except FileNotFoundError:
        return None, []
    except ElementTree.ParseError as error:
        raise PublishError(f"{path} is not XML metpost can read ({error}); move it aside and "
                           "metpost starts a new feed") from None
    if root.tag != f"{ATOM}feed":
        raise PublishError(f"{path} is not an Atom feed; move it aside and metpost starts a "
                           "new one")
    entries = [_entry(element, path) for element in root.findall(f"{ATOM}entry")]
    return root.findtext(f"{ATOM}id"), sorted(entries, key=lambda e: e.published, reverse=True)


def _entry(element: Element, path: Path) -> FeedEntry:
    updated = _time(element.findtext(f"{ATOM}updated"))
    published = _time(element.findtext(f"{ATOM}published")) or updated
    identifier = element.findtext(f"{ATOM}id")
    if identifier is None or updated is None or published is None:
        raise PublishError(f"{path} has an entry without its id or updated time; move it aside "
                           "and metpost starts a new feed")
    return FeedEntry(id=identifier.strip(), title=element.findtext(f"{ATOM}title") or "",
                     content=element.findtext(f"{ATOM}content") or "", published=published,
                     updated=updated)


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class FeedPlatform(Platform):
    """Adds, lists and removes entries of an Atom file."""

    name = "feed"
    title = "Atom feed"
    account_fields = {"path": True, "title": False, "link": False}  # noqa: RUF012
    path_fields = ("path",)
    destination_fields = {"path": False}  # noqa: RUF012
    limits = TextLimits(max_length=100_000, unit="characters")
    # An entry is text: no image file to enclose (the feed's readers could not reach a path on
    # this machine), no replies, and no account to verify.
    capabilities = Capabilities(can_list_recent=True, can_delete=True, idempotent_publish=True,
                                media=False, threads=False, can_verify=False)

    @classmethod
    def settings_problems(cls, settings: Mapping[str, str]) -> dict[str, str]:
        """link must be an http(s) address."""
        link = settings.get("link")
        if link is not None and not re.fullmatch(r"https?://\S+", link):
            return {"link": f"'{link}' is not an http(s) address like https://example.org/news"}
        return {}

    @classmethod
    def local_problems(cls, settings: Mapping[str, str]) -> list[str]:
        """The feed's folder must exist: metpost writes the file, not the folders above it."""
        folder = Path(settings["path"]).parent
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "does not exist"
            return [f"the feed's folder {folder} {what}; create it, or correct the account's "
                    "path"]
        return []

    @classmethod
    def check(cls, text: str, settings: Mapping[str, str] | None = None) -> list[str]:
        """The usual checks, and no character that XML cannot hold."""
        problems = super().check(text, settings)
        found = NOT_XML.search(text)
        if found:
            problems.append(f"contains U+{ord(found.group()):04X}, which an Atom feed cannot "
                            "hold")
        return problems

    # -- publishing ------------------------------------------------------------------------

    def publish(self, request: PostRequest) -> Receipt:
        """Add the post's entry, unless the feed has it already."""
        identifier = entry_id(request.idempotency_key)
        with self._locked():
            feed_id, entries = read_feed(self.path)
            if all(entry.id != identifier for entry in entries):
                made = datetime.fromtimestamp(request.first_attempt_at or time.time(), UTC)
                entries.insert(0, FeedEntry(id=identifier, title=entry_title(request.text),
                                            content=request.text, published=made,
                                            updated=made))
                self._write(feed_id, entries)
        return Receipt(remote_id=identifier, url=self.entry_url(identifier))

    def entry_url(self, identifier: str) -> str:
        """Where the entry can be read: the feed's page (its ``link``) or the file."""
        anchor = identifier.removeprefix("urn:uuid:")
        return f"{self.destination.settings.get('link') or self.path.as_uri()}#{anchor}"

    # -- finding and deleting --------------------------------------------------------------

    def recent_posts(self, since: datetime, limit: int = 100) -> list[RemotePost]:
        """The feed's entries published since ``since``, newest first."""
        _, entries = read_feed(self.path)
        return [RemotePost(remote_id=entry.id, text=entry.content,
                           url=self.entry_url(entry.id), created_at=entry.published)
                for entry in entries if entry.published >= since][:limit]

    def delete(self, remote_id: str) -> None:
        """Remove the entry; one that is not there counts as removed."""
        with self._locked():
            feed_id, entries = read_feed(self.path)
            kept = [entry for entry in entries if entry.id != remote_id]
            if len(kept) != len(entries):
                self._write(feed_id, kept)

    # -- the file --------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The feed file (the config loader made it absolute)."""
        return Path(self.destination.settings["path"])

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the feed's lock file while reading and rewriting it."""
        import fcntl

        lock_path = self.path.with_name(f".{self.path.name}.lock")
        try:
            lock = open(lock_path, "a+b")  # noqa: SIM115 — held for the whole block
        except OSError as error:
            raise PublishError(f"cannot open the feed's lock file {lock_path}: "
                               f"{error.strerror}") from None
        with lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            yield

    def _write(self, feed_id: str | None, entries: list[FeedEntry]) -> None:
        """Replace the file with a feed of ``entries``, atomically."""
        try:
            document = self._document(feed_id, entries)
        except ValueError as error:  # lxml refuses characters XML cannot hold
            raise PublishError(f"cannot write the feed {self.path}: {error}") from None
        folder = self.path.parent
        try:
            mode = self.path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        import tempfile

        written: str | None = None
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{self.path.name}.",
                                             suffix=".tmp", delete=False) as temporary:
                written = temporary.name
                _write_through(temporary, document)
            os.chmod(written, mode)
            os.replace(written, self.path)
        except OSError as error:
            if written is not None:
                with contextlib.suppress(OSError):
                    os.unlink(written)
            raise PublishError(f"cannot write the feed {self.path}: {error.strerror}") from None
        with contextlib.suppress(OSError):  # the rename is done; this only makes it durable
            directory = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def _document(self, feed_id: str | None, entries: list[FeedEntry]) -> bytes:
        from feedgen.feed import FeedGenerator

        settings = self.destination.settings
        title = settings.get("title") or self.destination.handle or self.destination.account
        generator = FeedGenerator()
        generator.id(feed_id or _name_based_urn(f"feed:{self.destination.account}"))
        generator.title(title)
        generator.author({"name": title})
        if settings.get("link"):
            generator.link(href=settings["link"], rel="alternate")
        generator.updated(max((entry.updated for entry in entries),
                              default=datetime.now(UTC)))
        for entry in entries:  # newest first, as they are kept
            item = generator.add_entry(order="append")
            item.id(entry.id)
            item.title(entry.title)
            item.content(entry.content, type="text")
            item.published(entry.published)
            item.updated(entry.updated)
        return bytes(generator.atom_str(pretty=True))


def _write_through(file: IO[bytes], data: bytes) -> None:
    """Write ``data`` and make sure it is on disk before the file is renamed into place."""
    file.write(data)
    file.flush()
    os.fsync(file.fileno())
