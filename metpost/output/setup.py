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
            "credentials": dict(a.credentials), **dict(a.settings), "status": a.status,
        } for a in accounts]})
        return
    # A staged rollout shows each account's status; a config whose accounts are all live, as
    # ever, does not need the column.
    status = [(a.status,) for a in accounts] if any(not a.live for a in accounts) else None
    if mode == "rich":
        # At 80 columns, whom an account speaks for and its tags share the one column that may
        # be cut; names and handles are always whole.
        narrow: list[tuple[str, ...]] = [(a.name, a.platform, a.handle or "",
                   " · ".join(part for part in (a.borough or a.personality or "",
                                                ", ".join(a.tags)) if part)) for a in accounts]
        if status:
            narrow = [(*row, *state) for row, state in zip(narrow, status, strict=True)]
        table(("Name", "Platform", "Handle", "For · tags", *(("Status",) if status else ())),
              narrow, mode, flexible=3)
        console().print(f"{len(accounts)} accounts")
        return
    rows: list[tuple[str, ...]] = [(a.name, a.platform, a.handle or "", a.borough or "",
                                    a.personality or "", ", ".join(a.tags)) for a in accounts]
    if status:
        rows = [(*row, *state) for row, state in zip(rows, status, strict=True)]
    table(("Name", "Platform", "Handle", "Borough", "Personality", "Tags",
           *(("Status",) if status else ())), rows, mode)


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


def show_setup_report(report: SetupReport, mode: Mode, *,
                      problems: Sequence[str] = ()) -> None:
    """The result of ``metpost check``; ``problems`` are why it fails (exit 2), which JSON
    carries in the same document (the lines themselves go to stderr)."""
    config = report.config
    if mode == "json":
        emit_json({
            "config": str(config.path), "accounts": len(config.accounts),
            "boroughs": len(config.boroughs), "personalities": len(config.personalities),
            "templates": list(report.template_names),
            "template_problems": list(report.template_problems),
            "missing_credentials": {k: list(v) for k, v in report.missing_credentials.items()},
            "credential_problems": list(report.credential_problems),
            "account_problems": list(report.account_problems),
            "statuses": _statuses(config.accounts), "schedules": report.schedules,
            "problems": list(problems), "exit_code": 2 if problems else 0,
        })
        return
    ready = len(report.accounts_ready)
    statuses = _statuses(config.accounts)
    staged = (" (" + ", ".join(f"{count} {status}" for status, count in statuses.items())
              + ")") if statuses["live"] != len(config.accounts) else ""
    lines = [
        f"{config.path}: valid — {len(config.accounts)} accounts{staged}, "
        f"{len(config.boroughs)} boroughs, {len(config.personalities)} personalities",
        f"{config.templates_dir}: {len(report.template_names)} templates"
        + (f", {len(report.template_problems)} with problems" if report.template_problems
           else ", all parse"),
        *([f"{report.schedules_path}: {report.schedules} schedules, valid"]
          if report.schedules is not None else []),
        _credentials_line(ready, len(config.accounts), lacking=len(report.missing_credentials)),
    ]
    shown = list(report.missing_credentials.items())
    for name, variables in shown[:MISSING_SHOWN]:
        lines.append(f"  {name}: not set: {', '.join(variables)}")
    if len(shown) > MISSING_SHOWN:
        lines.append(f"  … and {len(shown) - MISSING_SHOWN} more accounts (--json lists every "
                     "variable)")
    for line in lines:
        echo(line)


MISSING_SHOWN = 10  # accounts listed by name; --json lists them all


def _statuses(accounts: Sequence[Account]) -> dict[str, int]:
    """How many accounts are live, planned and paused (a staged rollout)."""
    from metpost.models import ACCOUNT_STATUSES

    return {status: sum(a.status == status for a in accounts) for status in ACCOUNT_STATUSES}


def _credentials_line(ready: int, total: int, *, lacking: int) -> str:
    """What the count of accounts ready to post means for the person reading it: ``lacking``
    of the others lack secrets, the rest have a problem that check names (on stderr)."""
    if ready == total:
        return f"credentials: all {total} accounts have their secrets set and can post"
    line = f"credentials: {ready} of {total} accounts can post from here"
    others = total - ready
    if lacking == others:
        return (f"{line}; the other {lacking} {_verb(lacking, 'lacks', 'lack')} secrets in this "
                "environment. A dry run needs none; a send to them stops before posting, and "
                "check --require-credentials fails until they are set")
    said = f"{others - lacking} {_verb(others - lacking, 'has', 'have')} the problems said below"
    if lacking:
        return (f"{line}; of the other {others}, {lacking} {_verb(lacking, 'lacks', 'lack')} "
                f"secrets in this environment and {said}")
    return f"{line}; the other {said}"


def _verb(count: int, one: str, many: str) -> str:
    return one if count == 1 else many
