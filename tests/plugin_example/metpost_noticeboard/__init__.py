"""A noticeboard: a file of JSON lines, one per post. An example of a metpost platform plugin.

It imports only ``metpost.platforms.api``, declares what it needs and can do as data, and
keeps the contract's promises: a post appended once however often it is published (its
idempotency key is written with it), a listing to find posts by, and deletion.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from metpost.platforms.api import (
    Capabilities,
    Platform,
    PostRequest,
    PublishError,
    Receipt,
    RemotePost,
    TextLimits,
)


class NoticeboardPlatform(Platform):
    """Appends each post to the account's ``board`` file."""

    name = "noticeboard"
    title = "Noticeboard"
    account_fields = {"board": True, "width": False}  # noqa: RUF012
    path_fields = ("board",)  # relative to accounts.yaml's folder
    limit_field = "width"
    limits = TextLimits(max_length=200)
    capabilities = Capabilities(can_list_recent=True, can_delete=True, idempotent_publish=True)

    @classmethod
    def settings_problems(cls, settings: Mapping[str, str]) -> dict[str, str]:
        """``width`` is a number of characters."""
        width = settings.get("width")
        if width is not None and not width.isdigit():
            return {"width": f"'{width}' is not a number of characters"}
        return {}

    @classmethod
    def limits_for(cls, settings: Mapping[str, str]) -> TextLimits:
        """A narrower board takes shorter notices."""
        width = settings.get("width", "")
        return TextLimits(max_length=int(width)) if width.isdigit() else cls.limits

    def publish(self, request: PostRequest) -> Receipt:
        """Append the notice, unless the board already has it."""
        notices = self._notices()
        if request.idempotency_key not in notices:
            notice = {"key": request.idempotency_key, "text": request.text,
                      "at": request.first_attempt_at or time.time()}
            try:
                with self.board.open("a", encoding="utf-8") as board:
                    board.write(json.dumps(notice) + "\n")
            except OSError as error:
                raise PublishError(f"cannot write {self.board}: {error.strerror}") from None
        return Receipt(remote_id=request.idempotency_key)

    def recent_posts(self, since: datetime, limit: int = 100) -> list[RemotePost]:
        """The board's notices since ``since``, newest first."""
        listed = [RemotePost(remote_id=key, text=notice["text"],
                             created_at=datetime.fromtimestamp(notice["at"], UTC))
                  for key, notice in self._notices().items()]
        recent = [post for post in listed if post.created_at and post.created_at >= since]
        return recent[::-1][:limit]

    def delete(self, remote_id: str) -> None:
        """Take a notice down; one that is not there counts as taken down."""
        kept = [notice for key, notice in self._notices().items() if key != remote_id]
        self.board.write_text("".join(json.dumps(notice) + "\n" for notice in kept),
                              encoding="utf-8")

    @property
    def board(self) -> Path:
        """The board file, as an absolute path (metpost resolved it)."""
        return Path(self.destination.settings["board"])

    def _notices(self) -> dict[str, dict]:
        if not self.board.exists():
            return {}
        lines = self.board.read_text(encoding="utf-8").splitlines()
        return {notice["key"]: notice for notice in map(json.loads, filter(None, lines))}
