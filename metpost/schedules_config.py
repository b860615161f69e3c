"""Load and validate schedules.yaml, as strictly as accounts.yaml: every problem at once, each on
one line with file, line and field, and the closest name when one is misspelt.

The file lies beside accounts.yaml unless ``--schedules PATH`` or ``$METPOST_SCHEDULES`` names
another. Names in a schedule (boroughs, accounts, templates, template variables) are checked
against the config and templates; whether its accounts are live is decided when a slot is sent,
so that putting a borough's accounts on hold does not stop every other schedule.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from metpost.config import ConfigValidator, read_document
from metpost.errors import ConfigError, MetpostError
from metpost.models import Account, Config
from metpost.plugins import platform_classes
from metpost.render import (
    RESERVED_NAMES,
    VAR_NAME,
    inline_template,
    load_template,
    syntax_problems,
)
from metpost.schedule import Schedule, check_cron
from metpost.selection import Selection, choose_accounts
from metpost.suggest import did_you_mean
from metpost.yamlsource import FieldPath, YamlDocument

# The years a rota may start in: the slots before or after them are beyond Python's dates.
ROTA_YEARS = (1971, 9998)

SCHEDULES_ENV = "METPOST_SCHEDULES"
SCHEDULES_FILE = "schedules.yaml"
SCHEDULE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")
# A slot's broadcast is named schedule:NAME:SLOT, which, as any --key, is at most 200 characters.
MAX_SCHEDULE_NAME = 100
SCHEDULE_KEYS = ("name", "cron", "timezone", "select", "template", "message", "vars", "rota",
                 "rota_start", "public_safety", "x_repost_from", "renamed_from")
# schedules.yaml's select: keys, and the Selection field each fills (as send's options do).
SELECT_KEYS = {"borough": "boroughs", "personality": "personalities", "tag": "tags",
               "account": "accounts", "platform": "platforms"}


def schedules_path(config: Config, given: str | None) -> Path:
    """``--schedules PATH`` (or $METPOST_SCHEDULES), else schedules.yaml beside the config."""
    return Path(given) if given else config.path.parent / SCHEDULES_FILE


def load_schedules(path: Path, config: Config) -> tuple[Schedule, ...]:
    """Read and validate the schedules at ``path`` against ``config``; raise ``ConfigError``
    listing every problem."""
    document = read_document(path, f"pass --schedules PATH or set {SCHEDULES_ENV}")
    return SchedulesValidator(path, document, config).schedules()


class SchedulesValidator(ConfigValidator):
    """Checks one parsed schedules document, with accounts.yaml's shape checks and wording."""

    def __init__(self, path: Path, document: YamlDocument, config: Config) -> None:
        super().__init__(path, document)
        self.config = config
        self.names: dict[str, int] = {}  # each schedule's name in the file, and its index
        self.former: dict[str, str] = {}  # each renamed_from seen, and the schedule giving it

    def schedules(self) -> tuple[Schedule, ...]:
        """Every schedule, or ConfigError with every problem found."""
        data = self.document.data
        if data is None:  # as accounts.yaml: a file emptied by mistake must not silence due
            self.problem((), "must be a mapping with a schedules: list, not empty; write "
                             "\"schedules: []\" to have none")
            raise ConfigError(*self.problems)
        if not isinstance(data, dict):
            self.problem((), "must be a mapping with a schedules: list")
            raise ConfigError(*self.problems)
        self.check_keys((), data, ("schedules",), required=("schedules",))
        if "schedules" in data and data["schedules"] is None:  # its entries commented out, say
            self.problem(("schedules",), "holds no list (are its entries commented out?); "
                                         "write \"schedules: []\" to have none")
            raise ConfigError(*self.problems)
        items = self.sequence(("schedules",), data.get("schedules"))
        self.names = {item["name"]: index for index, item in reversed(list(enumerate(items)))
                      if isinstance(item, dict) and isinstance(item.get("name"), str)}
        read = ((index, self.schedule(("schedules", index), item))
                for index, item in enumerate(items))
        found = self.unique_names(((index, schedule) for index, schedule in read
                                   if schedule is not None), "schedules", "schedule")
        if self.problems:
            raise ConfigError(*self.problems)
        return tuple(found)

    def schedule(self, path: FieldPath, item: object) -> Schedule | None:
        """One schedule, or None when it has problems (which are recorded)."""
        if not isinstance(item, dict):
            self.problem(path, "must be a mapping with name, cron, select and template")
            return None
        before = len(self.problems)
        self.check_keys(path, item, SCHEDULE_KEYS, required=("name", "cron", "select"))
        name = self.string((*path, "name"), item.get("name"))
        if name is not None and not SCHEDULE_NAME.fullmatch(name):
            self.problem((*path, "name"), f"'{name}' is not a usable name: use lowercase "
                                          "letters, digits and dashes, like on-the-street")
        elif name is not None and len(name) > MAX_SCHEDULE_NAME:
            self.problem((*path, "name"), f"is {len(name)} characters long; give at most "
                                          f"{MAX_SCHEDULE_NAME} (each slot's --key holds it)")
        cron = self.string((*path, "cron"), item.get("cron"))
        if cron is not None and (why := check_cron(cron)):
            self.problem((*path, "cron"), why)
        timezone = self.zone((*path, "timezone"), item.get("timezone"))
        selection = self.selection((*path, "select"), item.get("select"))
        template, message = self.source(path, item)
        values = self.string_map((*path, "vars"), item.get("vars"))
        rota = self.rota((*path, "rota"), item.get("rota"))
        rota_start = self.rota_start(path, item, rota)
        self.variables(path, template, values, rota)
        # The accounts the schedule posts to (its select was found valid, or is None).
        reached = None if selection is None else choose_accounts(
            self.config, selection, platform_classes(), include_inactive=True).accounts
        if message is not None and reached is not None and len(self.problems) == before:
            # (with a wrong vars or rota entry, what the message lacks would say it again)
            self.message_variables((*path, "message"), message, reached, values, rota)
        repost_from = self.repost_from((*path, "x_repost_from"), item.get("x_repost_from"),
                                       reached)
        renamed_from = self.renamed_from((*path, "renamed_from"), item.get("renamed_from"),
                                         name)
        if len(self.problems) != before:
            return None
        return Schedule(name=name or "", cron=cron or "", timezone=timezone or "",
                        selection=selection or Selection(), template=template, message=message,
                        vars=values, rota=tuple(rota), rota_start=rota_start,
                        public_safety=self.flag((*path, "public_safety"),
                                                item.get("public_safety")),
                        x_repost_from=repost_from, renamed_from=renamed_from,
                        line=self.document.line_of(path))

    # -- fields -------------------------------------------------------------------------------

    def renamed_from(self, path: FieldPath, value: object,
                     name: str | None) -> tuple[str, ...]:
        """``renamed_from``: the schedule's former name, or a list of every one (a schedule
        renamed twice lists both), whose sent slots and last run it takes over, so that a
        rename does not post the last slot again under the new name."""
        if isinstance(value, list):
            return tuple(former for index, item in enumerate(value)
                         if (former := self.former_name((*path, index), item, name)))
        former = self.former_name(path, value, name)
        return (former,) if former else ()

    def former_name(self, path: FieldPath, value: object, name: str | None) -> str | None:
        """One former name of schedule ``name``. It belongs to one schedule, and to none that
        has it now: two schedules claiming the same slots would each take the other's as
        sent."""
        former = self.string(path, value)
        if former is None:
            return None
        if not SCHEDULE_NAME.fullmatch(former):
            self.problem(path, f"'{former}' is not a schedule name")
        elif former == name:
            self.problem(path, "is the schedule's own name; give the name it had before")
        elif former in self.names:
            line = self.document.line_of(("schedules", self.names[former]))
            self.problem(path, f"schedule '{former}' is still in this file (line {line}); "
                               "rename it, or remove renamed_from")
        elif former in self.former:
            self.problem(path, f"schedule '{self.former[former]}' was renamed from "
                               f"'{former}' already")
        else:
            self.former[former] = name or ""
            return former
        return None

    def zone(self, path: FieldPath, value: object) -> str | None:
        """The schedule's time zone: its own, else accounts.yaml's; one is needed, since the
        machine's own offset says nothing of daylight saving."""
        if value is None:
            if self.config.timezone is None:
                self.problem(path[:-1], "needs a time zone: add timezone: Europe/London (an "
                                        f"IANA name) to {self.config.path} or to this schedule")
            return self.config.timezone
        return self.timezone(value, path)

    def selection(self, path: FieldPath, value: object) -> Selection | None:
        """``select:`` as send's selection options: borough, personality, tag, account (each a
        name or a list), all: true, and platform; the names must exist in the config."""
        if not isinstance(value, dict):
            self.problem(path, "must be a mapping such as {tag: [borough]} or {all: true}")
            return None
        self.check_keys(path, value, (*SELECT_KEYS, "all"))
        chosen: dict[str, tuple[str, ...]] = {}
        for key, attribute in SELECT_KEYS.items():
            given = value.get(key)
            items = given if isinstance(given, list) else [] if given is None else [given]
            names = [self.string((*path, key), name) for name in items]
            chosen[attribute] = tuple(name for name in names if name is not None)
        selection = Selection(all=self.flag((*path, "all"), value.get("all")), **chosen)
        try:
            choose_accounts(self.config, selection, platform_classes(), include_inactive=True)
        except MetpostError as error:
            for problem in error.problems:
                self.problem(path, problem)
            return None
        return selection

    def source(self, path: FieldPath, item: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """The template's name or the inline message: exactly one of them."""
        if "template" not in item and "message" not in item:
            self.problem(path, "needs a template: NAME (from templates/) or a message: TEXT")
        elif "template" in item and "message" in item:
            self.problem((*path, "message"), "give a template or a message, not both")
        template = self.string((*path, "template"), item.get("template"))
        message = self.string((*path, "message"), item.get("message"))
        if message is not None:
            # A message that cannot even be parsed is bad input now, not a failed slot later.
            for problem in syntax_problems(inline_template(message)):
                self.problem((*path, "message"), _message_problem(problem))
        if template is not None:
            try:
                load_template(self.config.templates_dir, template)
            except MetpostError as error:
                for problem in error.problems:
                    self.problem((*path, "template"), problem)
                return None, message
        return template, message

    def rota(self, path: FieldPath, value: object) -> list[dict[str, str]]:
        """``rota:``: a list of mappings of template variables, one per slot in turn."""
        entries = []
        for index, entry in enumerate(self.sequence(path, value)):
            if not isinstance(entry, dict) or not entry:
                self.problem((*path, index), "must be a mapping of template variables, like "
                                             "{officer: \"PC Amy Patel\"}")
                continue
            entries.append(self.string_map((*path, index), entry))
        if isinstance(value, list) and not value:  # (entries that are wrong are said above)
            self.problem(path, "must list at least one entry (or leave rota: out)")
        return entries

    def rota_start(self, path: FieldPath, item: Mapping[str, Any],
                   rota: list[dict[str, str]]) -> date | None:
        """``rota_start``: the date from which the rota's first entry fills the first slot."""
        value = item.get("rota_start")
        where: FieldPath = (*path, "rota_start")
        if value is None:
            if rota:
                self.problem(path, "a rota needs rota_start: the date (like 2026-12-01) whose "
                                   "first slot takes the rota's first entry")
            return None
        if not rota:
            if item.get("rota") is None:  # a rota given but wrong has its own problems
                self.problem(where, "rota_start is only for a rota; add rota: or remove it")
            return None
        start: date | None = None
        if isinstance(value, date):
            start = value
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                start = date.fromisoformat(value)
        if start is None:
            self.problem(where, f"'{value}' is not a date like 2026-12-01")
            return None
        if not ROTA_YEARS[0] <= start.year <= ROTA_YEARS[1]:
            self.problem(where, f"{start.isoformat()} is not a date in the years "
                                f"{ROTA_YEARS[0]} to {ROTA_YEARS[1]}")
            return None
        return start

    def variables(self, path: FieldPath, template: str | None, values: Mapping[str, str],
                  rota: list[dict[str, str]]) -> None:
        """vars and rota entries name variables the template declares, and together give
        every variable it needs."""
        declared = load_template(self.config.templates_dir, template).vars if template else {}
        given = [((*path, "vars", name), name) for name in values]
        given += [((*path, "rota", index, name), name)
                  for index, entry in enumerate(rota) for name in entry]
        for where, name in given:
            if name in RESERVED_NAMES:
                self.problem(where, f"'{name}' is set by metpost for each account and cannot "
                                    "be given")
            elif not VAR_NAME.fullmatch(name):
                self.problem(where, f"'{name}' cannot be a template variable name")
            elif declared and name not in declared:
                self.problem(where, f"template '{template}' takes no '{name}'"
                                    f"{did_you_mean(name, declared)} (it takes: "
                                    f"{', '.join(declared)})")
        for var in declared.values():
            if not var.required or var.name in values:
                continue
            lacking = [index for index, entry in enumerate(rota) if var.name not in entry]
            if not rota or lacking:
                place = (f"vars or in every rota entry (rota[{lacking[0]}] has none)" if rota
                         else "vars")
                self.problem(path, f"template '{template}' needs {var.name}: give it in {place}"
                                   + (f"; {var.help}" if var.help else ""))

    def message_variables(self, path: FieldPath, message: str, accounts: Sequence[Account],
                          values: Mapping[str, str], rota: list[dict[str, str]]) -> None:
        """An inline message names only what the ``accounts`` it reaches, its vars or every
        rota entry fill, and attributes that exist: else every slot would fail, at its time."""
        from metpost.template_check import variable_problems

        given = set(values)
        if rota:
            given |= set.intersection(*(set(entry) for entry in rota))
        for problem in variable_problems(inline_template(message), self.config, accounts,
                                         given, given_in="the schedule's vars"):
            self.problem(path, _message_problem(problem))

    def repost_from(self, path: FieldPath, value: object,
                    reached: Sequence[Account] | None) -> str | None:
        """``x_repost_from``: an X account of those ``reached`` (the selection's), whose post
        the others repost."""
        name = self.string(path, value)
        if name is None or reached is None:
            return name
        accounts = {account.name: account for account in self.config.accounts}
        if name not in accounts:
            self.problem(path, f"unknown account '{name}'{did_you_mean(name, accounts)}")
            return None
        if accounts[name] not in reached:
            self.problem(path, f"account '{name}' is not in this schedule's select; the "
                               "account reposted from must be one of those posting")
            return None
        if not platform_classes()[accounts[name].platform].capabilities.reposts:
            self.problem(path, f"account '{name}' is on {accounts[name].platform}, whose posts "
                               "metpost cannot repost; name an X account")
            return None
        return name


def _message_problem(problem: str) -> str:
    """A problem found in an inline message, worded for schedules.yaml: ``--message:2: what``
    as ``what (line 2 of the message)``, ``--message: what`` as ``what``."""
    what = problem.removeprefix("--message")
    line, colon, rest = what.removeprefix(":").partition(": ")
    if what.startswith(":") and colon and line.isdigit():
        return f"{rest.rstrip('.')} (line {line} of the message)"
    return what.removeprefix(": ")
