"""All printing: rich tables on a terminal, plain text when piped, JSON with --json.

One module per kind of thing shown; ``base`` holds what they share. Commands call the functions
re-exported here and never print themselves.
"""

from metpost.output.attachments import attachments_record, image_lines
from metpost.output.audit import event_record, show_audit
from metpost.output.base import Mode, echo, error, escape, note, output_mode, refusal_json
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

__all__ = ["Mode", "echo", "error", "escape", "note", "output_mode", "post_record", "refusal_json",
           "result_record", "show_accounts", "show_broadcast", "show_history", "show_outcome",
           "show_preview", "show_result", "show_setup_report", "show_templates"]
__all__ += ["platform_record", "plugin_warning", "show_platforms"]
__all__ += ["show_ledger_copy"]  # metpost ledger
__all__ += ["attachments_record", "image_lines"]  # threads and images
# schedules, verify, rollout and X notes
__all__ += ["broadcast_document", "extra_for", "show_broadcast_notes", "show_cron_line",
            "show_due", "show_schedules", "show_slot_heading", "show_verifications",
            "slot_document"]
# reviewed broadcasts: plans, approvals, the audit trail
__all__ += ["event_record", "plan_record", "show_apply_rerun", "show_approved", "show_audit",
            "show_plan", "show_plan_written"]
