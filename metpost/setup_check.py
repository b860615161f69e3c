"""``metpost check``: is the config valid, do templates parse, which secrets are set? No network."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from metpost.errors import MetpostError
from metpost.models import Account, Config
from metpost.render import list_templates, syntax_problems
from metpost.secrets import resolve_credentials


@dataclass(frozen=True)
class SetupReport:
    """What ``check`` found."""

    config: Config
    template_names: tuple[str, ...]
    template_problems: tuple[str, ...]
    missing_credentials: Mapping[str, tuple[str, ...]]  # account name -> unset variables

    @property
    def accounts_ready(self) -> list[Account]:
        """Accounts whose every secret is set."""
        return [a for a in self.config.accounts if not self.missing_credentials.get(a.name)]


def check_setup(config: Config, environ: Mapping[str, str]) -> SetupReport:
    """Inspect templates and credentials of a loaded (hence valid) config."""
    names: list[str] = []
    problems: list[str] = []
    try:
        templates = list_templates(config.templates_dir)
    except MetpostError as error:
        templates = []
        problems.extend(error.problems)
    for template in templates:
        names.append(template.name)
        problems.extend(syntax_problems(template))
    missing = {}
    for account in config.accounts:
        _, unset = resolve_credentials(account, environ)
        if unset:
            missing[account.name] = tuple(unset)
    return SetupReport(config=config, template_names=tuple(names),
                       template_problems=tuple(problems), missing_credentials=missing)
