"""``metpost templates``."""

from __future__ import annotations

import click

from metpost.cli.options import config_option, json_option, load


@click.group()
def templates() -> None:
    """Inspect the message templates in templates/."""


@templates.command("list")
@json_option
@config_option
def list_templates(as_json: bool, config_file: str) -> None:
    """List templates with their descriptions, variables and per-platform variants."""
    from metpost import output
    from metpost.render import list_templates as find_templates
    from metpost.render import orphan_problem, orphan_variants

    config = load(config_file)
    output.show_templates(find_templates(config.templates_dir), output.output_mode(as_json))
    for path in orphan_variants(config.templates_dir):
        output.note(f"left out: {orphan_problem(path)}")
