"""``metpost check``: is the config valid, do templates parse (and every file they include,
import or extend exist inside templates/), which secrets are set? No network, no rendering."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from metpost.errors import MetpostError
from metpost.models import Account, Config
from metpost.render import (
    TEMPLATE_NAME,
    TEMPLATE_SUFFIX,
    load_template,
    reference_problems,
    syntax_problems,
    template_names,
)
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
    for name in template_names(config.templates_dir):
        if not TEMPLATE_NAME.match(name):
            problems.append(f"{config.templates_dir}: '{name}' cannot be given to --template; "
                            f"rename its {TEMPLATE_SUFFIX} files with letters, digits, '-' and "
                            "'_' only")
            continue
        try:
            template = load_template(config.templates_dir, name)
        except MetpostError as error:
            problems.extend(error.problems)
            continue
        names.append(template.name)
        problems.extend(syntax_problems(template))
        problems.extend(reference_problems(template, config.templates_dir))
    missing = {}
    for account in config.accounts:
        _, unset = resolve_credentials(account, environ)
        if unset:
            missing[account.name] = tuple(unset)
    return SetupReport(config=config, template_names=tuple(names),
                       template_problems=tuple(problems), missing_credentials=missing)
