"""All printing: rich tables on a terminal, plain text when piped, JSON with --json.

One module per kind of thing shown; ``base`` holds what they share. Commands call the functions
re-exported here and never print themselves.
"""

from metpost.output.base import Mode, echo, error, escape, note, output_mode
from metpost.output.ledger import show_broadcast, show_history
from metpost.output.posts import (
    post_record,
    result_record,
    show_outcome,
    show_preview,
    show_result,
)
from metpost.output.setup import show_accounts, show_setup_report, show_templates

__all__ = ["Mode", "echo", "error", "escape", "note", "output_mode", "post_record",
           "result_record", "show_accounts", "show_broadcast", "show_history", "show_outcome",
           "show_preview", "show_result", "show_setup_report", "show_templates"]
