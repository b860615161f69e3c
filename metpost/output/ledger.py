"""The ledger: recent broadcasts and one broadcast's posts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from metpost.output.base import Mode, echo, emit_json, table

if TYPE_CHECKING:
    from metpost.ledger import BroadcastRecord, LedgerPost


def show_history(records: Sequence[BroadcastRecord], mode: Mode) -> None:
    """Recent broadcasts with counts per state."""
    if mode == "json":
        emit_json({"broadcasts": [{"id": r.id, "key": r.label, "created_at": r.created_at,
                               "source": r.source, "posts": r.total, "states": r.counts}
                              for r in records]})
        return
    states = ("sent", "failed", "unknown", "retracted")
    rows = [(r.id, r.label or "", r.created_at, r.source, str(r.total),
             *(str(r.counts.get(state, 0)) for state in states)) for r in records]
    table(("Broadcast", "Key", "Created (UTC)", "Source", "Posts",
            *(s.title() for s in states)), rows, mode)


def show_broadcast(record: BroadcastRecord, posts: Sequence[LedgerPost], mode: Mode) -> None:
    """One broadcast's posts as the ledger has them."""
    if mode == "json":
        emit_json({"id": record.id, "created_at": record.created_at, "source": record.source,
               "posts": [{"account": p.account, "platform": p.platform, "handle": p.handle,
                          "text": p.text, "state": p.state, "attempts": p.attempts,
                          "remote_id": p.remote_id, "url": p.url, "error": p.error,
                          "updated_at": p.updated_at} for p in posts]})
        return
    echo(f"Broadcast {record.id} ({record.source}, {record.created_at})")
    rows = [(p.account, p.platform, p.state, str(p.attempts), p.url or p.remote_id or "",
             p.error or "") for p in posts]
    table(("Account", "Platform", "State", "Attempts", "Post", "Error"), rows, mode)
