"""``metpost check``: is the config valid, do templates parse (and every file they include,
import or extend exist inside templates/), which secrets are set? No network, no rendering."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from metpost.destinations import local_problems
from metpost.errors import MetpostError
from metpost.models import Account, Config
from metpost.plugins import platform_classes
from metpost.render import (
    TEMPLATE_NAME,
    TEMPLATE_SUFFIX,
    MessageTemplate,
    load_template,
    not_template_files,
    orphan_problem,
    orphan_variants,
    reference_problems,
    syntax_problems,
    template_names,
)
from metpost.secrets import credential_problems, resolve_credentials
from metpost.template_check import variable_problems, variant_problems


@dataclass(frozen=True)
class SetupReport:
    """What ``check`` found."""

    config: Config
    template_names: tuple[str, ...]
    template_problems: tuple[str, ...]
    missing_credentials: Mapping[str, tuple[str, ...]]  # account name -> unset variables
    # secrets set in a form no token has ("ACCOUNT: credential VAR holds a line break ...")
    credential_problems: tuple[str, ...] = ()
    # what stops an account posting from here ("ACCOUNT: the feed's folder ... does not exist")
    account_problems: tuple[str, ...] = ()
    schedules: int | None = None  # how many schedules schedules.yaml holds (None: no file)
    schedules_path: Path | None = None
    # the accounts that the two kinds of problem above stop posting
    accounts_with_problems: frozenset[str] = frozenset()

    @property
    def accounts_ready(self) -> list[Account]:
        """Accounts whose every secret is set, in a form a token can have, and that nothing
        else stops posting from here."""
        return [a for a in self.config.accounts if not self.missing_credentials.get(a.name)
                and a.name not in self.accounts_with_problems]


def image_problems(template: MessageTemplate, templates_dir: Path) -> list[str]:
    """What is wrong with the images a template's files declare: a file missing, outside
    templates/, not an image, without alt text, or declared twice. Read, not sent, and no
    platform asked."""
    from metpost.media import repeated_images, template_images

    problems: list[str] = []
    for source in (template.base, *template.variants.values()):
        specs = source.images or ()
        try:
            found = template_images(specs, templates_dir, require_alt=True)
        except MetpostError as error:
            problems.extend(line for line in error.problems if line not in problems)
            continue
        problems.extend(line for line in repeated_images(list(zip(specs, found, strict=True)))
                        if line not in problems)
    return problems


def check_setup(config: Config, environ: Mapping[str, str],
                schedules_file: Path | None = None, *, schedules_given: bool = False
                ) -> SetupReport:
    """Inspect templates and credentials of a loaded (hence valid) config, and validate its
    schedules (schedules.yaml beside it, when there is one, or ``schedules_file``; one that
    was given must exist). Raises ConfigError for invalid schedules."""
    names: list[str] = []
    problems = [orphan_problem(path) for path in orphan_variants(config.templates_dir)]
    problems += not_template_files(config.templates_dir)
    for name in template_names(config.templates_dir):
        if not TEMPLATE_NAME.fullmatch(name):
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
        problems.extend(variant_problems(template, platform_classes()))
        problems.extend(variable_problems(template, config, config.accounts))
        problems.extend(image_problems(template, config.templates_dir))
    missing = {}
    malformed: list[str] = []
    unready: list[str] = []
    with_problems: set[str] = set()
    for account in config.accounts:
        _, unset = resolve_credentials(account, environ)
        if unset:
            missing[account.name] = tuple(unset)
        account_malformed = [f"{account.name}: {problem}"
                             for problem in credential_problems(account, environ)]
        account_unready = [f"{account.name}: {problem}" for problem in local_problems(account)]
        if account_malformed or account_unready:
            with_problems.add(account.name)
        malformed += account_malformed
        unready += account_unready
    schedules = None
    if schedules_file is not None and (schedules_given or schedules_file.exists()):
        from metpost.schedules_config import load_schedules

        schedules = len(load_schedules(schedules_file, config))
    return SetupReport(config=config, template_names=tuple(names),
                       template_problems=tuple(problems), missing_credentials=missing,
                       credential_problems=tuple(malformed), account_problems=tuple(unready),
                       schedules=schedules, schedules_path=schedules_file,
                       accounts_with_problems=frozenset(with_problems))
