"""Templates to per-account text.

A template is ``templates/<name>.j2``, optionally with per-platform variants
``templates/<name>.<platform>.j2``, and optional YAML front matter::

    ---
    description: Counter a false rumour.
    vars:
      rumour: What people are saying           # required; the text is its help
      time: {help: When it was true, default: ""}   # optional, with a default
    ---
    {{ borough }}: we are aware of rumours of {{ rumour }} ...

Rendering is strict: an undefined variable is an error, never a blank.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metpost.errors import TemplateError
from metpost.models import Account, Config
from metpost.suggest import did_you_mean
from metpost.yamlsource import YamlSyntaxError, parse_yaml

if TYPE_CHECKING:
    import jinja2

TEMPLATE_SUFFIX = ".j2"
FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?---[ \t]*(\n|\Z)", re.DOTALL)
# Names a template sees from metpost itself; --var may not shadow them.
RESERVED_NAMES = frozenset({"account", "borough", "personality", "now"})
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TemplateVar:
    """A variable a template declares in its front matter."""

    name: str
    help: str = ""
    default: str | None = None

    @property
    def required(self) -> bool:
        """A variable without a default must be given with --var."""
        return self.default is None


@dataclass(frozen=True)
class TemplateFile:
    """One template file: its front matter, and its body with the front matter blanked out."""

    path: Path
    description: str
    vars: Mapping[str, TemplateVar]
    body: str


@dataclass(frozen=True)
class MessageTemplate:
    """A named message: the base file and any per-platform variants."""

    name: str
    base: TemplateFile
    variants: Mapping[str, TemplateFile] = field(default_factory=dict)

    @property
    def description(self) -> str:
        """What the template is for, from its front matter."""
        return self.base.description

    @property
    def vars(self) -> dict[str, TemplateVar]:
        """Every declared variable, the base file's and its variants'."""
        merged: dict[str, TemplateVar] = {}
        for source in (*self.variants.values(), self.base):
            merged.update(source.vars)
        return merged

    def for_platform(self, platform: str) -> TemplateFile:
        """The variant for ``platform``, else the base file."""
        return self.variants.get(platform, self.base)


def read_template_file(path: Path) -> TemplateFile:
    """Read a template file, splitting off and validating its front matter."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TemplateError(f"{path}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise TemplateError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    match = FRONT_MATTER.match(text)
    if not match:
        return TemplateFile(path=path, description="", vars={}, body=text)
    try:
        meta = parse_yaml(match.group(1) or "", line_offset=1).data or {}
    except YamlSyntaxError as error:
        raise TemplateError(f"{path}:{error.line}: front matter: {error.message}") from None
    if not isinstance(meta, dict):
        raise TemplateError(f"{path}:2: front matter must be a mapping with description and vars")
    unknown = set(meta) - {"description", "vars"}
    if unknown:
        key = sorted(unknown)[0]
        raise TemplateError(f"{path}:2: front matter: unknown key '{key}'"
                            f"{did_you_mean(key, ('description', 'vars'))}")
    # Keep line numbers in Jinja errors right: the front matter becomes a comment of equal height.
    header_lines = match.group(0).count("\n")
    body = "{#" + "\n" * header_lines + "#}" + text[match.end():]
    return TemplateFile(path=path, description=str(meta.get("description") or ""),
                        vars=_declared_vars(path, meta.get("vars")), body=body)


def _declared_vars(path: Path, value: object) -> dict[str, TemplateVar]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TemplateError(f"{path}: front matter: vars must be a mapping of name: help text")
    declared = {}
    for name, spec in value.items():
        if not VAR_NAME.match(str(name)) or name in RESERVED_NAMES:
            raise TemplateError(f"{path}: front matter: '{name}' cannot be a variable name")
        if isinstance(spec, dict):
            default = spec.get("default")
            declared[name] = TemplateVar(name, str(spec.get("help", "")),
                                         None if default is None else str(default))
        else:
            declared[name] = TemplateVar(name, "" if spec is None else str(spec))
    return declared


def list_templates(templates_dir: Path) -> list[MessageTemplate]:
    """Every template in ``templates_dir``, sorted by name."""
    if not templates_dir.is_dir():
        return []
    names = sorted({p.name.split(".")[0] for p in templates_dir.glob("*" + TEMPLATE_SUFFIX)})
    return [load_template(templates_dir, name) for name in names]


def load_template(templates_dir: Path, name: str) -> MessageTemplate:
    """The template called ``name``; a missing one is an error suggesting the nearest name."""
    base_path = templates_dir / f"{name}{TEMPLATE_SUFFIX}"
    if not base_path.is_file():
        known = sorted({p.name.split(".")[0] for p in templates_dir.glob("*" + TEMPLATE_SUFFIX)})
        hint = did_you_mean(name, known) or (
            f" (available: {', '.join(known)})" if known else f" ({templates_dir} has none)")
        raise TemplateError(f"unknown template '{name}'{hint}; see metpost templates list")
    variants = {
        path.name[len(name) + 1:-len(TEMPLATE_SUFFIX)]: read_template_file(path)
        for path in sorted(templates_dir.glob(f"{name}.*{TEMPLATE_SUFFIX}"))
        if path != base_path
    }
    return MessageTemplate(name=name, base=read_template_file(base_path), variants=variants)


def inline_template(text: str) -> MessageTemplate:
    """A ``--message`` given on the command line, rendered like a template file."""
    return MessageTemplate(name="--message", base=TemplateFile(
        path=Path("--message"), description="", vars={}, body=text))


def bind_variables(template: MessageTemplate, given: Mapping[str, str]) -> dict[str, str]:
    """The values for the template's declared variables: given, else default; check names."""
    problems = []
    declared = template.vars
    for name in given:
        if name in RESERVED_NAMES:
            problems.append(f"--var {name}=…: '{name}' is set by metpost and cannot be given")
        elif declared and name not in declared:
            problems.append(f"--var {name}=…: template '{template.name}' takes no '{name}'"
                            f"{did_you_mean(name, declared)} (it takes: {', '.join(declared)})")
    for var in declared.values():
        if var.required and not given.get(var.name, "").strip():
            help_text = f" ({var.help})" if var.help else ""
            problems.append(f"template '{template.name}' needs --var {var.name}=…{help_text}")
    if problems:
        raise TemplateError(*problems)
    values = {var.name: var.default or "" for var in declared.values() if not var.required}
    values.update(given)
    return values


class Renderer:
    """Renders a template for accounts, strictly, with one Jinja environment per run."""

    def __init__(self, config: Config, template: MessageTemplate,
                 variables: Mapping[str, str], now: datetime) -> None:
        import jinja2

        self.config = config
        self.template = template
        self.variables = dict(variables)
        self.now = now
        self.env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False,
                                      keep_trailing_newline=False)
        self._compiled: dict[Path, jinja2.Template] = {}

    def context(self, account: Account) -> dict[str, Any]:
        """What a template sees for ``account``. No borough means ``borough`` is undefined."""
        context: dict[str, Any] = {**account.vars, **self.variables}
        context["account"] = account
        context["now"] = self.now
        if account.borough:
            context["borough"] = self.config.boroughs[account.borough]
        if account.personality:
            context["personality"] = self.config.personalities[account.personality]
        return context

    def render(self, account: Account) -> str:
        """The finished text for ``account``, trimmed of surrounding whitespace."""
        import jinja2

        source = self.template.for_platform(account.platform)
        try:
            compiled = self._compile(source)
            return compiled.render(self.context(account)).strip()
        except jinja2.UndefinedError as error:
            raise TemplateError(self._undefined_message(source, account, error)) from None
        except jinja2.TemplateSyntaxError as error:
            raise TemplateError(f"{source.path}:{error.lineno}: template syntax error: "
                                f"{error.message}") from None
        except jinja2.TemplateError as error:
            raise TemplateError(f"{source.path}: cannot render for account '{account.name}': "
                                f"{error}") from None

    def _compile(self, source: TemplateFile) -> jinja2.Template:
        if source.path not in self._compiled:
            self._compiled[source.path] = self.env.from_string(source.body)
        return self._compiled[source.path]

    def _undefined_message(self, source: TemplateFile, account: Account,
                           error: jinja2.UndefinedError) -> str:
        message = str(error.message)
        where = f"{source.path}: {message} for account '{account.name}'"
        if "'borough'" in message and not account.borough:
            return f"{where}, which has no borough; select borough accounts only"
        if "'personality'" in message and not account.personality:
            return f"{where}, which has no personality; select personality accounts only"
        return f"{where}; pass it with --var NAME=VALUE or add it to the account's vars"


def syntax_problems(template: MessageTemplate) -> list[str]:
    """Jinja syntax errors in every file of ``template``, one line each."""
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    problems = []
    for source in (template.base, *template.variants.values()):
        try:
            env.parse(source.body)
        except jinja2.TemplateSyntaxError as error:
            problems.append(f"{source.path}:{error.lineno}: template syntax error: {error.message}")
    return problems
