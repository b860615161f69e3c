"""``metpost platforms``."""

from __future__ import annotations

import click

from metpost.cli.options import json_option


@click.group()
def platforms() -> None:
    """Inspect the platforms metpost can post to, built-in and plugins."""


@platforms.command("list")
@json_option
def list_platforms(as_json: bool) -> None:
    """List installed platforms: limits, credentials and what each can do."""
    from metpost import output
    from metpost.plugins import platform_classes, platform_providers

    output.show_platforms(platform_classes(), platform_providers(), output.output_mode(as_json))
