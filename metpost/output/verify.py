"""``metpost accounts verify``: each account, and whom the platform says its credentials are."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from metpost.output.base import Mode, echo, emit_json

if TYPE_CHECKING:
    from metpost.verify import Verification


def show_verifications(checked: Sequence[Verification], mode: Mode) -> None:
    """One line per account (``ok``, ``PROBLEM`` or ``unchecked``), or JSON."""
    if mode == "json":
        emit_json({"accounts": [{"account": v.account.name, "ok": v.ok,
                                 "platform_handle": v.platform_handle, "problem": v.problem}
                                for v in checked]})
        return
    for v in checked:
        verdict = {True: "ok", False: "PROBLEM", None: "unchecked"}[v.ok]
        said = f"{v.platform_handle}" if v.platform_handle else ""
        detail = "; ".join(part for part in (said, v.problem or "") if part)
        echo(f"{verdict:<9} {v.account.label} [{v.account.platform}]"
             + (f": {detail}" if detail else ""))
    counts = [(sum(v.ok is True for v in checked), "ok"),
              (sum(v.ok is False for v in checked), "with problems"),
              (sum(v.ok is None for v in checked), "not checked")]
    echo(f"{len(checked)} accounts: "
         + ", ".join(f"{count} {what}" for count, what in counts if count) + ".")
