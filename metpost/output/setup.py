"""The configuration: accounts, templates, and what ``metpost check`` found."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from metpost.models import Account
from metpost.output.base import Mode, console, echo, emit_json, table

if TYPE_CHECKING:
    from metpost.render import MessageTemplate
    from metpost.setup_check import SetupReport


def show_accounts(accounts: Sequence[Account], mode: Mode) -> None:
    """The accounts a selection (or the whole config) covers."""
    if mode == "json":
        emit_json({"accounts": [{
            "name": a.name, "platform": a.platform, "handle": a.handle, "borough": a.borough,
            "personality": a.personality, "tags": list(a.tags), "api_url": a.api_url,
            "credentials": dict(a.credentials), **dict(a.settings),
        } for a in accounts]})
        return
    rows = [(a.name, a.platform, a.handle or "", a.borough or "", a.personality or "",
             ", ".join(a.tags)) for a in accounts]
    table(("Name", "Platform", "Handle", "Borough", "Personality", "Tags"), rows, mode)
    if mode == "rich":
        console().print(f"{len(accounts)} accounts")


def show_templates(templates: Sequence[MessageTemplate], mode: Mode) -> None:
    """Templates with their descriptions, variables and platform variants."""
    if mode == "json":
        emit_json({"templates": [{
            "name": t.name, "description": t.description,
            "variants": sorted(t.variants),
            "vars": {v.name: {"help": v.help, "required": v.required, "default": v.default}
                     for v in t.vars.values()},
        } for t in templates]})
        return
    rows = [(t.name, t.description,
             ", ".join(v.name + ("" if v.required else "?") for v in t.vars.values()),
             ", ".join(sorted(t.variants))) for t in templates]
    table(("Name", "Description", "Vars (? = optional)", "Variants"), rows, mode)


def show_setup_report(report: SetupReport, mode: Mode) -> None:
    """The result of ``metpost check``."""
    config = report.config
    if mode == "json":
        emit_json({
            "config": str(config.path), "accounts": len(config.accounts),
            "boroughs": len(config.boroughs), "personalities": len(config.personalities),
            "templates": list(report.template_names),
            "template_problems": list(report.template_problems),
            "missing_credentials": {k: list(v) for k, v in report.missing_credentials.items()},
        })
        return
    ready = len(report.accounts_ready)
    lines = [
        f"{config.path}: valid — {len(config.accounts)} accounts, {len(config.boroughs)} "
        f"boroughs, {len(config.personalities)} personalities",
        f"{config.templates_dir}: {len(report.template_names)} templates"
        + (f", {len(report.template_problems)} with problems" if report.template_problems
           else ", all parse"),
        f"credentials: {ready}/{len(config.accounts)} accounts have every secret set",
    ]
    for name, variables in report.missing_credentials.items():
        lines.append(f"  {name}: not set: {', '.join(variables)}")
    for line in lines:
        echo(line)
