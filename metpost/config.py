"""Load and validate accounts.yaml into a ``Config``, reporting every problem at once.

Each problem is one line: ``accounts.yaml:12: accounts[3].platform: unknown platform 'fb' — did
you mean 'facebook'?``. Secrets never appear in the file: credentials are ``${ENV_VAR}``
references, resolved only when a post is about to be sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from metpost.characters import CONTROL_CHARACTER, NOT_IN_A_NAME
from metpost.errors import ConfigError
from metpost.files import NotAFileError
from metpost.models import ACCOUNT_STATUSES, Account, Borough, Config, Personality
from metpost.plugins import platform_classes
from metpost.suggest import did_you_mean
from metpost.yamlsource import (
    FieldPath,
    YamlDocument,
    YamlProblem,
    YamlSyntaxError,
    YamlTooBig,
    field_name,
    one_line,
    read_yaml,
)

if TYPE_CHECKING:
    from metpost.approvals import ApprovalPolicy

CONFIG_ENV = "METPOST_CONFIG"


class Named(Protocol):
    """Something a config lists by a unique name (an account, a schedule)."""

    @property
    def name(self) -> str: ...

    @property
    def line(self) -> int: ...


N = TypeVar("N", bound=Named)

# Each pattern must match a whole value (fullmatch): "$" alone would also match before a
# trailing newline, and let "hackney-x\n" through as a name.
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
ACCOUNT_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")
API_URL = re.compile(r"https?://[^/\s]+(/\S*)?")

# Keys every account may have, whatever its platform.
COMMON_ACCOUNT_KEYS = (
    "name", "platform", "handle", "borough", "personality", "tags", "vars", "api_url",
    "credentials", "status",
)


def load_config(path: Path) -> Config:
    """Read, validate and return the config at ``path``; raise ``ConfigError`` listing problems."""
    document = read_document(path, f"pass --config PATH or set {CONFIG_ENV}")
    return ConfigValidator(path, document).validate()


def read_document(path: Path, elsewhere: str) -> YamlDocument:
    """Read ``path`` strictly as YAML, or raise ``ConfigError`` saying why not, one line per
    problem; ``elsewhere`` says how to name another file ("pass --config PATH ...")."""
    try:
        return read_yaml(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; {elsewhere}") from None
    except NotAFileError as error:
        raise ConfigError(f"{path}: it is {error.kind}, not a file; {elsewhere}") from None
    except YamlTooBig as error:
        raise ConfigError(f"{path}: {error}, more than any config needs; {elsewhere}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    except YamlSyntaxError as error:
        raise ConfigError(*(_yaml_problem(path, problem) for problem in error.problems)) from None


def _yaml_problem(path: Path, problem: YamlProblem) -> str:
    """One line for a problem found reading the YAML (syntax, duplicate keys, hostile aliases)."""
    if problem.field is not None:
        field = one_line(field_name(problem.field))
        return f"{path}:{problem.line}: {field}: {one_line(problem.message)}"
    # The hint explains a syntax slip; an alias bomb or a bad date on such a line is another matter.
    hint = _yaml_hint(path, problem.line) if problem.message.startswith("invalid YAML") else ""
    return f"{path}:{problem.line}: {one_line(problem.message)}{hint}"


def _yaml_hint(path: Path, line: int) -> str:
    """The commonest YAML slip in this file: an unquoted ${VAR} inside { ... }."""
    try:
        text = path.read_text(encoding="utf-8").splitlines()[line - 1]
    except (OSError, IndexError, UnicodeDecodeError):
        return ""
    if "${" in text and "{" in text.replace("${", ""):
        return "; inside { ... } quote each reference, as '${VAR}'"
    return ""


def _type_name(value: object) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "true/false",
             int: "a number", float: "a number", type(None): "empty"}
    return names.get(type(value), type(value).__name__)


class ConfigValidator:
    """Checks one parsed config document and collects every problem before raising."""

    def __init__(self, path: Path, document: YamlDocument) -> None:
        self.path = path
        self.document = document
        self.problems: list[str] = []

    def problem(self, path: FieldPath, message: str) -> None:
        """Record a problem at ``path``, on one line whatever the values it quotes contain."""
        line = self.document.line_of(path)
        self.problems.append(f"{self.path}:{line}: {one_line(field_name(path))}: "
                             f"{one_line(message)}")

    def validate(self) -> Config:
        """Return the Config, or raise ConfigError with every problem found."""
        data = self.document.data
        if not isinstance(data, dict):
            self.problem((), f"must be a mapping with boroughs, personalities and accounts, "
                             f"not {_type_name(data)}")
            raise ConfigError(*self.problems)
        self.check_keys((), data, ("timezone", "boroughs", "personalities", "accounts",
                                   "x_apps", "public_safety_only", "approvals"))
        timezone = self.timezone(data.get("timezone"))
        boroughs = self.boroughs(data.get("boroughs"))
        personalities = self.personalities(data.get("personalities"))
        accounts = self.accounts(data.get("accounts"), boroughs, personalities)
        x_apps = self.x_apps(data.get("x_apps"), accounts)
        public_safety_only = self.flag(("public_safety_only",), data.get("public_safety_only"))
        approvals = self.approvals(data.get("approvals"), accounts, boroughs, personalities)
        if self.problems:
            raise ConfigError(*self.problems)
        return Config(path=self.path, boroughs=boroughs, personalities=personalities,
                      accounts=tuple(accounts), timezone=timezone, x_apps=x_apps,
                      public_safety_only=public_safety_only, approval_policy=approvals)

    def approvals(self, value: object, accounts: list[Account],
                  boroughs: Mapping[str, Borough],
                  personalities: Mapping[str, Personality]) -> ApprovalPolicy | None:
        """``approvals``: where broadcasts need approval before they go out, and by whom;
        None when the file has no ``approvals``."""
        if value is None:
            return None
        from metpost.approvals_config import approval_policy

        return approval_policy(self, value, accounts, boroughs, personalities)

    # -- generic shape checks -------------------------------------------------------------

    def check_keys(self, path: FieldPath, mapping: Mapping[str, Any], allowed: tuple[str, ...],
                   required: tuple[str, ...] = ()) -> None:
        """Unknown keys (with a hint) and missing required keys."""
        for key in mapping:
            if key not in allowed:
                hint = did_you_mean(str(key), allowed) or f" (allowed: {', '.join(allowed)})"
                self.problem((*path, key), f"unknown key '{key}'{hint}")
        for key in required:
            if key not in mapping:
                self.problem(path, f"missing required key '{key}'")

    def string(self, path: FieldPath, value: object, *, required: bool = False,
               name: bool = False) -> str | None:
        """``value`` as a non-empty string, or None (recording a problem when it isn't one).
        A ``name`` (a handle, a borough, a tag) is one line of plain text: no line break, tab or
        direction control, which would forge or reorder what a reviewer reads in a preview."""
        if value is None:
            if required:
                self.problem(path, "must not be empty")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problem(path, f"must be a string, not {_type_name(value)}")
            return None
        if not isinstance(value, str):
            self.problem(path, f"must be a string: quote it, as \"{value}\"")
            return None
        if not value.strip():
            self.problem(path, "must not be empty")
            return None
        if name and (hidden := NOT_IN_A_NAME.search(value)) is not None:
            self.problem(path, f"holds U+{ord(hidden[0]):04X} (a line break, tab or invisible "
                               "direction mark), which no name has; write it on one line, "
                               "plainly")
            return None
        if name and value != value.strip():
            self.problem(path, f"'{value}' starts or ends with a space, which no name has; "
                               f"write '{value.strip()}'")
            return None
        if (control := CONTROL_CHARACTER.search(value)) is not None:
            self.problem(path, f"holds a control character (U+{ord(control[0]):04X}), which a "
                               "terminal would act on and no platform shows; remove it")
            return None
        return value

    def flag(self, path: FieldPath, value: object) -> bool:
        """``value`` as true/false (false when absent, recording a problem when it isn't one)."""
        if value is None:
            return False
        if not isinstance(value, bool):
            self.problem(path, f"must be true or false, not {_type_name(value)}")
            return False
        return value

    def choice(self, path: FieldPath, value: object, choices: tuple[str, ...], default: str,
               kind: str) -> str:
        """``value`` as one of ``choices`` (``default`` when absent), else a problem naming
        the closest choice and all of them."""
        text = self.string(path, value)
        if text is None:
            return default
        if text not in choices:
            self.problem(path, f"unknown {kind} '{text}'{did_you_mean(text, choices)} "
                               f"(known: {', '.join(choices)})")
            return default
        return text

    def mapping(self, path: FieldPath, value: object) -> dict[str, Any]:
        """``value`` as a mapping (empty when absent or wrong, recording a problem)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, f"must be a mapping (key: value), not {_type_name(value)}")
            return {}
        return value

    def sequence(self, path: FieldPath, value: object) -> list[Any]:
        """``value`` as a list (empty when absent or wrong, recording a problem)."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, f"must be a list, not {_type_name(value)}")
            return []
        return value

    # -- settings ---------------------------------------------------------------------------

    def timezone(self, value: object, path: FieldPath = ("timezone",)) -> str | None:
        """An IANA time zone name such as Europe/London (for {{ now }} in templates, or a
        schedule's slots), or None when absent or unknown (recording a problem)."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        name = self.string(path, value)
        if name is None:
            return None
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            self.problem(path, f"unknown time zone '{name}'; use an IANA name such as "
                               "Europe/London")
            return None
        return name

    def unique_names(self, indexed: Iterable[tuple[int, N]], section: str,
                     kind: str) -> list[N]:
        """The items of list ``section`` (with their index in it) whose name no earlier one
        has; each later one is a problem naming the first one's line."""
        first_line: dict[str, int] = {}
        unique: list[N] = []
        for index, item in indexed:
            if item.name in first_line:
                self.problem((section, index, "name"),
                             f"duplicate {kind} name '{item.name}' (first at line "
                             f"{first_line[item.name]}); {kind} names must be unique")
                continue
            first_line[item.name] = item.line
            unique.append(item)
        return unique

    # -- sections ---------------------------------------------------------------------------

    def boroughs(self, value: object) -> dict[str, Borough]:
        """The ``boroughs`` list, keyed by name."""
        boroughs: dict[str, Borough] = {}
        folded: set[str] = set()  # the names so far, case-folded: one look-up each
        for index, item in enumerate(self.sequence(("boroughs",), value)):
            path: FieldPath = ("boroughs", index)
            if not isinstance(item, dict):
                self.problem(path, f"must be a mapping like {{name: Hackney, bcu: CE}}, "
                                   f"not {_type_name(item)}")
                continue
            self.check_keys(path, item, ("name", "bcu"), required=("name", "bcu"))
            name = self.string((*path, "name"), item.get("name"), name=True)
            bcu = self.string((*path, "bcu"), item.get("bcu"), name=True)
            if name is None or bcu is None:
                continue
            if name.casefold() in folded:
                self.problem((*path, "name"), f"borough '{name}' is listed twice")
                continue
            folded.add(name.casefold())
            boroughs[name] = Borough(name=name, bcu=bcu)
        return boroughs

    def personalities(self, value: object) -> dict[str, Personality]:
        """The ``personalities`` mapping, keyed by key."""
        personalities: dict[str, Personality] = {}
        for key, item in self.mapping(("personalities",), value).items():
            path: FieldPath = ("personalities", key)
            if not isinstance(item, dict):
                self.problem(path, f"must be a mapping with display and signature, "
                                   f"not {_type_name(item)}")
                continue
            self.check_keys(path, item, ("display", "signature"), required=("display",))
            display = self.string((*path, "display"), item.get("display"), name=True)
            signature = self.string((*path, "signature"), item.get("signature")) or ""
            if display is not None:
                personalities[str(key)] = Personality(key=str(key), display=display,
                                                      signature=signature)
        return personalities

    def accounts(self, value: object, boroughs: Mapping[str, Borough],
                 personalities: Mapping[str, Personality]) -> list[Account]:
        """The ``accounts`` list, each checked against its platform's declared needs."""
        if value is None:
            self.problem((), "missing required key 'accounts'")
        read = ((index, self.account(("accounts", index), item, boroughs, personalities))
                for index, item in enumerate(self.sequence(("accounts",), value)))
        return self.unique_names(((index, account) for index, account in read
                                  if account is not None), "accounts", "account")

    def account(self, path: FieldPath, item: object, boroughs: Mapping[str, Borough],
                personalities: Mapping[str, Personality]) -> Account | None:
        """One account, or None when it has problems (which are recorded)."""
        if not isinstance(item, dict):
            self.problem(path, f"must be a mapping with name, platform and credentials, "
                               f"not {_type_name(item)}")
            return None
        before = len(self.problems)
        name = self.string((*path, "name"), item.get("name"), required=True)
        if name is not None and not ACCOUNT_NAME.fullmatch(name):
            self.problem((*path, "name"), f"'{name}' is not a usable name: use lowercase "
                                          "letters, digits and dashes, like hackney-x")
        platform_name = self.string((*path, "platform"), item.get("platform"), required=True)
        platforms = platform_classes()
        platform = platforms.get(platform_name) if platform_name else None
        if platform_name and platform is None:
            hint = did_you_mean(platform_name, platforms)
            self.problem((*path, "platform"), f"unknown platform '{platform_name}'{hint} "
                                              f"(known: {', '.join(sorted(platforms))})")
        extra_keys = tuple(platform.account_fields) if platform else ()
        if platform is not None:
            self.check_keys(path, item, COMMON_ACCOUNT_KEYS + extra_keys)
        elif platform_name is None:
            # No platform: a misspelt "platform" key is the likeliest cause; say so, judging
            # the other keys against what any platform accepts.
            any_platform = {key for known in platforms.values() for key in known.account_fields}
            self.check_keys(path, item, COMMON_ACCOUNT_KEYS + tuple(sorted(any_platform)))
        borough = self.string((*path, "borough"), item.get("borough"), name=True)
        borough = self.known_name((*path, "borough"), borough, boroughs, "borough")
        personality = self.string((*path, "personality"), item.get("personality"), name=True)
        personality = self.known_name((*path, "personality"), personality, personalities,
                                      "personality")
        settings: dict[str, str] = {}
        for key in extra_keys:
            required = platform.account_fields[key] if platform else False
            if key not in item and required:
                self.problem(path, f"missing required key '{key}' for platform '{platform_name}'")
            value = item.get(key)
            if key in COMMON_ACCOUNT_KEYS:  # (handle, api_url) checked as every account's are
                text = value if isinstance(value, str) and value.strip() else None
            elif platform is not None and key in platform.flag_fields:
                text = None if value is None else str(self.flag((*path, key), value)).lower()
            else:
                text = self.string((*path, key), value)
            if text is not None:
                settings[key] = text
        if platform is not None:
            for key in platform.path_fields:
                if key in settings:
                    settings[key] = self.file_path(settings[key])
            for key, message in platform.settings_problems(settings).items():
                self.problem((*path, key), message)
        account = Account(
            name=name or "",
            platform=platform_name or "",
            handle=self.string((*path, "handle"), item.get("handle"), name=True),
            borough=borough,
            personality=personality,
            tags=self.tags((*path, "tags"), item.get("tags")),
            vars=self.string_map((*path, "vars"), item.get("vars")),
            api_url=self.api_url((*path, "api_url"), item.get("api_url")),
            credentials=self.credentials((*path, "credentials"), item.get("credentials"),
                                         platform.credential_keys if platform else None,
                                         platform.optional_credential_keys if platform else ()),
            settings=settings,
            line=self.document.line_of(path),
            status=self.choice((*path, "status"), item.get("status"), ACCOUNT_STATUSES, "live",
                               "status"),
        )
        if platform is not None and account.name:
            # Fields and credentials taken together: a credential given but written wrongly
            # (said above) still counts as given, with no variable.
            written = item.get("credentials")
            given = {str(key): account.credentials.get(str(key), "")
                     for key in (written if isinstance(written, dict) else {})}
            for key, message in platform.account_problems(settings, given).items():
                self.problem((*path, key), message)
        return account if len(self.problems) == before else None

    def x_apps(self, value: object, accounts: list[Account]) -> dict[str, str]:
        """``x_apps``: each X app, named by the variable its accounts' ``consumer_key`` refers
        to, and its access tier (``x_access``)."""
        from metpost.xtiers import DEFAULT_TIER, TIERS

        referenced = {account.credentials["consumer_key"] for account in accounts
                      if account.platform == "x" and "consumer_key" in account.credentials}
        apps: dict[str, str] = {}
        for key, item in self.mapping(("x_apps",), value).items():
            path: FieldPath = ("x_apps", key)
            name = str(key)
            if name not in referenced:
                hint = did_you_mean(name, referenced) or (
                    f" (they use: {', '.join(sorted(referenced))})" if referenced else "")
                self.problem(path, f"no X account's consumer_key is ${{{name}}}{hint}; name "
                                   "each app by its consumer-key variable")
                continue
            if not isinstance(item, dict):
                self.problem(path, f"must be a mapping like {{x_access: basic}}, not "
                                   f"{_type_name(item)}")
                continue
            self.check_keys(path, item, ("x_access",), required=("x_access",))
            apps[name] = self.choice((*path, "x_access"), item.get("x_access"), tuple(TIERS),
                                     DEFAULT_TIER, "X access tier")
        return apps

    # -- account fields ---------------------------------------------------------------------

    def known_name(self, path: FieldPath, name: str | None, known: Mapping[str, Any],
                   kind: str) -> str | None:
        """``name`` as spelt in its section (case-insensitive match), or a problem."""
        if name is None:
            return None
        for candidate in known:
            if candidate.casefold() == name.casefold():
                return candidate
        section = "boroughs" if kind == "borough" else "personalities"
        self.problem(path, f"unknown {kind} '{name}'{did_you_mean(name, known)} "
                           f"(add it under {section}: or fix the spelling)")
        return None

    def tags(self, path: FieldPath, value: object) -> tuple[str, ...]:
        """A list of tag strings."""
        tags = []
        for index, tag in enumerate(self.sequence(path, value)):
            text = self.string((*path, index), tag, required=True, name=True)
            if text is not None:
                tags.append(text)
        return tuple(tags)

    def string_map(self, path: FieldPath, value: object) -> dict[str, str]:
        """A mapping of names to strings (template variables)."""
        result: dict[str, str] = {}
        for key, item in self.mapping(path, value).items():
            text = self.string((*path, key), item, required=True)  # "website:" left blank
            if text is not None:
                result[str(key)] = text
        return result

    def file_path(self, value: str) -> str:
        """A file named in the config, relative to the config's folder, as an absolute path."""
        import os

        return os.path.normpath((self.path.parent / Path(value).expanduser()).absolute())

    def api_url(self, path: FieldPath, value: object) -> str | None:
        """An http(s) base URL with no trailing slash."""
        url = self.string(path, value)
        if url is None:
            return None
        authority = url.partition("://")[2].split("/", 1)[0]
        if "@" in authority:  # user:password@host: a secret written into the config
            self.problem(path, "holds a user name or password before its host, which must not "
                               "be written in the config; give the platform's token in "
                               "credentials: as ${VAR}, and the URL without it")
            return None
        if not API_URL.fullmatch(url):
            self.problem(path, f"'{url}' is not an http(s) URL like http://127.0.0.1:8080")
            return None
        from metpost.platforms.http import url_problem

        problem = url_problem(url)
        if problem:
            self.problem(path, f"'{url}' {problem}; write a base URL like http://127.0.0.1:8080")
            return None
        return url.rstrip("/")

    def credentials(self, path: FieldPath, value: object, needed: tuple[str, ...] | None,
                    optional: tuple[str, ...] = ()) -> dict[str, str]:
        """Credential key -> environment variable name; literal secrets are refused. Every
        ``needed`` key must be given; ``optional`` ones may be (a given one must then be set)."""
        references: dict[str, str] = {}
        given = self.mapping(path, value)
        known = None if needed is None else (*needed, *optional)
        for key, item in given.items():
            if known is not None and key not in known:
                hint = did_you_mean(str(key), known) or (
                    f" ({'known' if optional else 'needed'}: {', '.join(known)})" if known
                    else " (this platform takes no credentials)")
                self.problem((*path, key), f"unknown credential '{key}'{hint}")
                continue
            match = ENV_REFERENCE.fullmatch(item) if isinstance(item, str) else None
            if match is None:
                # Never echo the value: it may be a real secret pasted by mistake.
                env_name = re.sub(r"[^A-Z0-9]+", "_", str(key).upper())
                self.problem((*path, key), "secrets must not be written in the config; "
                                           "store it in an environment variable and write "
                                           f"${{{env_name}}} (a ${{VAR}} reference) here")
                continue
            references[str(key)] = match.group(1)
        for key in needed or ():
            if key not in given:
                self.problem(path, f"missing credential '{key}' (write {key}: ${{ENV_VAR}})")
        return references
