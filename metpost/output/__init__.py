"""All printing: rich tables on a terminal, plain text when piped, JSON with --json.

One module per kind of thing shown; ``base`` holds what they share. Commands call the functions
named here and never print themselves. Each module is imported when one of its functions is
first used, so a command loads only what it prints (start-up time counts for a CLI).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from metpost.lazy import lazy_attributes

if TYPE_CHECKING:
    from metpost.output.attachments import attachments_record, image_lines
    from metpost.output.audit import event_record, show_audit
    from metpost.output.base import (
        Mode,
        echo,
        error,
        escape,
        json_documents,
        note,
        output_mode,
        refusal_json,
    )
    from metpost.output.ledger import show_broadcast, show_history
    from metpost.output.ledger_admin import show_ledger_copy
    from metpost.output.notes import broadcast_document, extra_for, show_broadcast_notes
    from metpost.output.plans import (
        plan_record,
        show_apply_rerun,
        show_approved,
        show_plan,
        show_plan_written,
    )
    from metpost.output.platforms import platform_record, plugin_warning, show_platforms
    from metpost.output.posts import (
        post_record,
        result_record,
        show_outcome,
        show_preview,
        show_result,
    )
    from metpost.output.schedules import (
        show_cron_line,
        show_due,
        show_schedules,
        show_slot_heading,
        slot_document,
    )
    from metpost.output.setup import show_accounts, show_setup_report, show_templates
    from metpost.output.verify import show_verifications


# module of this package -> the functions it defines
MODULES: dict[str, tuple[str, ...]] = {
    "attachments": ("attachments_record", "image_lines"),
    "audit": ("event_record", "show_audit"),
    "base": ("Mode", "echo", "error", "escape", "json_documents", "note", "output_mode",
             "refusal_json"),
    "ledger": ("show_broadcast", "show_history"),
    "ledger_admin": ("show_ledger_copy",),
    "notes": ("broadcast_document", "extra_for", "show_broadcast_notes"),
    "plans": ("plan_record", "show_apply_rerun", "show_approved", "show_plan", "show_plan_written"),
    "platforms": ("platform_record", "plugin_warning", "show_platforms"),
    "posts": ("post_record", "result_record", "show_outcome", "show_preview", "show_result"),
    "schedules": (
        "show_cron_line", "show_due", "show_schedules", "show_slot_heading", "slot_document",
    ),
    "setup": ("show_accounts", "show_setup_report", "show_templates"),
    "verify": ("show_verifications",),
}
WHERE = {name: module for module, names in MODULES.items() for name in names}

__all__ = [
    "Mode", "attachments_record", "broadcast_document", "echo", "error", "escape", "event_record",
    "extra_for", "image_lines", "json_documents", "note", "output_mode", "plan_record",
    "platform_record", "plugin_warning", "post_record", "refusal_json", "result_record",
    "show_accounts",
    "show_apply_rerun", "show_approved", "show_audit", "show_broadcast", "show_broadcast_notes",
    "show_cron_line", "show_due", "show_history", "show_ledger_copy", "show_outcome", "show_plan",
    "show_plan_written", "show_platforms", "show_preview", "show_result", "show_schedules",
    "show_setup_report", "show_slot_heading", "show_templates", "show_verifications",
    "slot_document",
]


__getattr__ = lazy_attributes(globals(), {name: f"{__name__}.{module}:{name}"
                                           for name, module in WHERE.items()})
