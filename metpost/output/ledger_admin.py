"""Looking after the ledger: what ``metpost ledger migrate`` copied."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metpost.output.base import Mode, echo, emit_json, plural

if TYPE_CHECKING:
    from metpost.ledger.transfer import LedgerCopy


def show_ledger_copy(copy: LedgerCopy, mode: Mode) -> None:
    """How many broadcasts, posts and audit events went from one ledger to the other, or that
    none had to."""
    if mode == "json":
        emit_json({"from": copy.source, "to": copy.target, "copied": copy.copied,
                   "broadcasts": copy.broadcasts, "posts": copy.posts,
                   "audit_events": copy.events, "skipped": list(copy.skipped)})
        return
    counted = [plural(copy.broadcasts, 'broadcast'), plural(copy.posts, 'post')]
    if copy.events:
        counted.append(plural(copy.events, "audit event"))
    what = ", ".join(counted[:-1]) + " and " + counted[-1]
    if copy.copied:
        echo(f"Copied {what} from {copy.source} to {copy.target}.")
    elif not copy.skipped:
        echo(f"Nothing to copy: {copy.target} already holds the {what} of {copy.source}.")
    if copy.skipped:
        shown = ", ".join(copy.skipped[:5]) + (f" and {len(copy.skipped) - 5} more"
                                               if len(copy.skipped) > 5 else "")
        echo(f"{plural(len(copy.skipped), 'broadcast')} {copy.target} holds already "
             f"({shown}) keep its record, with any posts of theirs it lacked added; the posts "
             f"this host sent of them again stay in {copy.source} (metpost show ID --ledger "
             f"{copy.source}).")
