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

Whoever writes a template is not trusted with the machine: templates run in Jinja's immutable
sandbox (no ``_`` attributes, no Python internals, nothing that changes the objects they see);
``include``, ``import`` and ``extends`` reach only files inside ``templates/``; and each render is
bounded in the size of what it builds, the length of its text and its time. Whatever goes wrong
becomes a one-line ``TemplateError``, before anything is sent.
"""

from __future__ import annotations

import math
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, wraps
from pathlib import Path, PurePosixPath
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from metpost.errors import TemplateError
from metpost.memory_cap import MemoryCap
from metpost.models import Account, Config
from metpost.suggest import did_you_mean
from metpost.yamlsource import YamlSyntaxError, parse_yaml

if TYPE_CHECKING:
    import jinja2
    from jinja2 import nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from metpost.media import ImageSpec

TEMPLATE_SUFFIX = ".j2"
FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)?---[ \t]*(\n|\Z)", re.DOTALL)
# Names a template sees from metpost itself; --var may not shadow them.
RESERVED_NAMES = frozenset({"account", "borough", "personality", "now"})
FRONT_MATTER_KEYS = ("description", "vars", "images")
# A line of three dashes, then (blank lines aside) a front matter key: front matter written
# below the first line, which would otherwise be posted as part of the message.
LATE_FRONT_MATTER = re.compile(r"^---[ \t]*\n(?:[ \t]*\n)*(?:description|vars|images)[ \t]*:",
                               re.MULTILINE)
VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A --template NAME is a file's name without ".j2": no dot, so no variant, path or "..".
TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")

# Limits on one render. A post is at most 63,206 characters (Facebook's limit), so these are
# far above any honest template and far below what would hurt the machine.
MAX_TEXT_CHARS = 1_000_000  # the finished text, and any one string or collection built for it
MAX_NUMBER_BITS = 100_000  # about 30,000 decimal digits
RENDER_SECONDS = 1.0
# How much more memory a render may take, whatever it builds: the backstop for single steps in C
# code that build a big value before anything can measure it (see metpost.memory_cap).
MAX_RENDER_MEMORY = 200 << 20
# str methods and filters whose width or count argument sets the size of what they return.
PADDING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
PADDING_FILTERS = frozenset({"center", "indent", "batch"})
GROWING_FILTERS = PADDING_FILTERS | {"format", "replace", "join", "wordwrap", "sum"}


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
    # The images its front matter declares; None when it declares none (a variant then takes
    # the base file's), () when it says ``images: []``.
    images: tuple[ImageSpec, ...] | None = None


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

    def images_for(self, platform: str) -> tuple[ImageSpec, ...]:
        """The images a post on ``platform`` carries: its variant's, if the variant declares
        any (even none), else the base file's."""
        variant = self.variants.get(platform)
        if variant is not None and variant.images is not None:
            return variant.images
        return self.base.images or ()


def read_template_file(path: Path) -> TemplateFile:
    """Read a template file, splitting off and validating its front matter."""
    try:
        # utf-8-sig: a byte order mark (as Windows editors save) is no part of the template;
        # left in, it would hide the front matter, which would then be posted as text.
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise TemplateError(f"{path}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise TemplateError(f"{path}: not UTF-8 text; save it as UTF-8") from None
    match = FRONT_MATTER.match(text)
    if not match:
        _refuse_front_matter_unread(path, text)
        return TemplateFile(path=path, description="", vars={}, body=text)
    try:
        meta = parse_yaml(match.group(1) or "", line_offset=1).data or {}
    except YamlSyntaxError as error:
        raise TemplateError(f"{path}:{error.line}: front matter: {error.message}") from None
    if not isinstance(meta, dict):
        raise TemplateError(f"{path}:2: front matter must be a mapping with description and vars")
    unknown = set(meta) - set(FRONT_MATTER_KEYS)
    if unknown:
        key = sorted(unknown)[0]
        raise TemplateError(f"{path}:2: front matter: unknown key '{key}'"
                            f"{did_you_mean(key, FRONT_MATTER_KEYS)}")
    # Keep line numbers in Jinja errors right: the front matter becomes a comment of equal height.
    header_lines = match.group(0).count("\n")
    body = "{#" + "\n" * header_lines + "#}" + text[match.end():]
    return TemplateFile(path=path, description=str(meta.get("description") or ""),
                        vars=_declared_vars(path, meta.get("vars")), body=body,
                        images=_declared_images(path, meta) if "images" in meta else None)


def _refuse_front_matter_unread(path: Path, text: str) -> None:
    """A file that seems to open with front matter, but whose front matter cannot be read as
    such, is refused: sent as it is, its YAML would be posted as the message."""
    lines = text.split("\n")
    first = next((number for number, line in enumerate(lines, start=1) if line.strip()), None)
    if first is not None and lines[first - 1].strip() != "---":
        # Front matter below a first line of text ("# note", then ---, description: ...).
        later = LATE_FRONT_MATTER.search(text)
        if later is not None:
            line = text.count("\n", 0, later.start()) + 1
            raise TemplateError(f"{path}:{line}: front matter must begin on the first line; "
                                f"move the text above its --- below the closing ---")
        return
    if first is None:
        return
    if first > 1:
        raise TemplateError(f"{path}:{first}: front matter must begin on the first line; "
                            "remove the blank lines before its ---")
    raise TemplateError(f"{path}:1: front matter has no closing ---; end it with a line of "
                        "three dashes, before the message")


def _declared_images(path: Path, meta: Mapping[str, object]) -> tuple[ImageSpec, ...]:
    """The front matter's ``images``: a list of ``{path: ..., alt: ...}``, paths relative to
    templates/ (resolved, and checked to stay inside it, when a broadcast uses them)."""
    from metpost.media import ImageSpec

    value = meta.get("images")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TemplateError(f"{path}: front matter: images must be a list of "
                            "{path: FILE, alt: TEXT}")
    declared = []
    for number, item in enumerate(value, start=1):
        if isinstance(item, str):
            item = {"path": item}
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or (
                not item["path"].strip()):
            raise TemplateError(f"{path}: front matter: images[{number}] must be "
                                "{path: FILE, alt: TEXT}, the file relative to templates/")
        unknown = sorted(set(item) - {"path", "alt"})
        if unknown:
            raise TemplateError(f"{path}: front matter: images[{number}]: unknown key "
                                f"'{unknown[0]}'{did_you_mean(unknown[0], ('path', 'alt'))}")
        alt = item.get("alt")
        if alt is not None and not isinstance(alt, str):
            raise TemplateError(f"{path}: front matter: images[{number}].alt must be text")
        declared.append(ImageSpec(path=item["path"].strip(), alt=alt, origin=str(path)))
    return tuple(declared)


def _declared_vars(path: Path, value: object) -> dict[str, TemplateVar]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TemplateError(f"{path}: front matter: vars must be a mapping of name: help text")
    declared = {}
    for name, spec in value.items():
        if not VAR_NAME.fullmatch(str(name)) or name in RESERVED_NAMES:
            raise TemplateError(f"{path}: front matter: '{name}' cannot be a variable name")
        if isinstance(spec, dict):
            unknown = sorted(str(key) for key in spec if key not in VAR_KEYS)
            if unknown:
                raise TemplateError(
                    f"{path}: front matter: vars.{name}: unknown key '{unknown[0]}'"
                    f"{did_you_mean(unknown[0], VAR_KEYS)} (a variable takes help and default; "
                    "one without a default must be given with --var)")
            help_text, default = spec.get("help", ""), spec.get("default")
            for key, item in (("help", help_text), ("default", default)):
                _plain_value(path, f"vars.{name}.{key}", item)
            declared[name] = TemplateVar(name, "" if help_text is None else str(help_text),
                                         None if default is None else str(default))
        else:
            _plain_value(path, f"vars.{name}", spec)
            declared[name] = TemplateVar(name, "" if spec is None else str(spec))
    return declared


VAR_KEYS = ("help", "default")


def _plain_value(path: Path, field: str, value: object) -> None:
    """A help text or default is text (a number is taken as written); a list, a mapping or
    true/false is refused rather than shown as Python would print it."""
    kinds = {bool: "true or false", list: "a list", dict: "a mapping"}
    kind = next((words for kind, words in kinds.items() if isinstance(value, kind)), None)
    if kind is not None:
        raise TemplateError(f"{path}: front matter: {field} must be text, not {kind}; quote it")


def template_names(templates_dir: Path) -> list[str]:
    """The names of the templates in ``templates_dir`` (its files ``NAME.j2``), sorted; a
    variant file whose base is missing names none (``orphan_variants``)."""
    if not templates_dir.is_dir():
        return []
    return sorted({path.name.split(".")[0] for path in templates_dir.glob("*" + TEMPLATE_SUFFIX)
                   if (templates_dir / (path.name.split(".")[0] + TEMPLATE_SUFFIX)).is_file()})


def orphan_variants(templates_dir: Path) -> list[Path]:
    """Variant files (``NAME.PLATFORM.j2``) in ``templates_dir`` with no ``NAME.j2`` beside
    them: no template uses them."""
    if not templates_dir.is_dir():
        return []
    return sorted(path for path in templates_dir.glob("*.*" + TEMPLATE_SUFFIX)
                  if not (templates_dir / (path.name.split(".")[0] + TEMPLATE_SUFFIX)).exists())


def not_a_template_file(path: Path) -> str | None:
    """What is wrong with ``path``, named as a template file, when it is something else: a
    folder, a device, or a link to nothing (or a loop of links). None when it is a file, or
    is not there."""
    name = path.name.split(".")[0]
    if path.is_file() or not (path.exists() or path.is_symlink()):
        return None
    if not path.exists():
        return (f"template '{name}': {path} is a link to {os.readlink(path)}, which does not "
                "exist (or is a loop of links); point it at a template file, or remove it")
    kind = "a folder" if path.is_dir() else "not a regular file"
    return f"template '{name}': {path} is {kind}; a template is a text file"


def not_template_files(templates_dir: Path) -> list[str]:
    """``not_a_template_file`` for every ``*.j2`` in ``templates_dir``."""
    if not templates_dir.is_dir():
        return []
    return [problem for path in sorted(templates_dir.glob("*" + TEMPLATE_SUFFIX))
            if (problem := not_a_template_file(path)) is not None]


def orphan_problem(path: Path) -> str:
    """What is wrong with a variant file whose template is missing, and the fix."""
    name = path.name.split(".")[0]
    return (f"{path}: a variant of template '{name}', which has no {name}{TEMPLATE_SUFFIX}; add "
            "that file, or rename this one")


def list_templates(templates_dir: Path) -> list[MessageTemplate]:
    """Every template in ``templates_dir`` whose name can be given to --template, by name."""
    return [load_template(templates_dir, name) for name in template_names(templates_dir)
            if TEMPLATE_NAME.fullmatch(name)]


def load_template(templates_dir: Path, name: str) -> MessageTemplate:
    """The template called ``name``; a missing one is an error suggesting the nearest name.

    ``name`` is a plain name, never a path, and every file it selects must lie inside
    ``templates_dir`` once links are followed.
    """
    if not TEMPLATE_NAME.fullmatch(name):
        raise TemplateError(
            f"template name '{name}' is not allowed: give the name of a file in {templates_dir} "
            f"without its folder or '{TEMPLATE_SUFFIX}' (letters, digits, '-' and '_' only, "
            "e.g. --template rumour-control); see metpost templates list")
    base_path = templates_dir / f"{name}{TEMPLATE_SUFFIX}"
    if (problem := not_a_template_file(base_path)) is not None:
        raise TemplateError(problem)
    if not base_path.is_file():
        orphans = [path for path in orphan_variants(templates_dir)
                   if path.name.split(".")[0] == name]
        if orphans:
            raise TemplateError(orphan_problem(orphans[0]))
        known = [known for known in template_names(templates_dir) if TEMPLATE_NAME.fullmatch(known)]
        hint = did_you_mean(name, known) or (
            f" (available: {', '.join(known)})" if known else f" ({templates_dir} has none)")
        raise TemplateError(f"unknown template '{name}'{hint}; see metpost templates list")
    variant_paths = [path for path in sorted(templates_dir.glob(f"{name}.*{TEMPLATE_SUFFIX}"))
                     if path != base_path]
    for path in (base_path, *variant_paths):
        if not _lies_inside(path, templates_dir):
            raise TemplateError(f"template '{name}': {path} links to a file outside "
                                f"{templates_dir}; put the template itself in that folder")
    variants = {path.name[len(name) + 1:-len(TEMPLATE_SUFFIX)]: read_template_file(path)
                for path in variant_paths}
    return MessageTemplate(name=name, base=read_template_file(base_path), variants=variants)


def _lies_inside(path: Path, folder: Path) -> bool:
    """``path``, with every link followed, is in ``folder`` (itself resolved) or below it."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):  # a link loop, or a name the OS refuses
        return False


def inline_template(text: str) -> MessageTemplate:
    """A ``--message`` given on the command line, rendered like a template file."""
    return MessageTemplate(name="--message", base=TemplateFile(
        path=Path("--message"), description="", vars={}, body=text))


def bind_variables(template: MessageTemplate, given: Mapping[str, str],
                   platforms: Iterable[str] | None = None) -> dict[str, str]:
    """The values for the template's declared variables: given, else default; check names.
    With ``platforms`` (those the broadcast posts to), a variable is required only if the base
    file or a variant rendered for one of them declares it: a Facebook variant's own variable
    is not needed for a send to X alone."""
    problems = []
    declared = template.vars
    used = declared if platforms is None else {**template.base.vars, **{
        name: var for platform in set(platforms)
        for name, var in template.for_platform(platform).vars.items()}}
    for name in given:
        if name in RESERVED_NAMES:
            problems.append(f"--var {name}=…: '{name}' is set by metpost and cannot be given")
        elif declared and name not in declared:
            problems.append(f"--var {name}=…: template '{template.name}' takes no '{name}'"
                            f"{did_you_mean(name, declared)} (it takes: {', '.join(declared)})")
    for var in used.values():
        if var.required and not given.get(var.name, "").strip():
            help_text = f" ({var.help})" if var.help else ""
            problems.append(f"template '{template.name}' needs --var {var.name}=…{help_text}")
    if problems:
        raise TemplateError(*problems)
    values = {var.name: var.default or "" for var in declared.values() if not var.required}
    values.update(given)
    return values


class Renderer:
    """Renders a template for accounts: strictly, in a sandbox, within limits, with one Jinja
    environment per run and each file compiled once."""

    def __init__(self, config: Config, template: MessageTemplate,
                 variables: Mapping[str, str], now: datetime) -> None:
        self.config = config
        self.template = template
        self.variables = dict(variables)
        self.now = now
        self.env = message_environment(config.templates_dir)
        self._clock = RenderClock(RENDER_SECONDS)
        self._memory = MemoryCap(MAX_RENDER_MEMORY)
        self._compiled: dict[Path, jinja2.Template] = {}
        # file -> the account it ran out of time for. It is not run again this run, so that a
        # broadcast to 66 accounts fails in a second, not in 66.
        self._too_slow: dict[Path, str] = {}

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

    @contextmanager
    def many(self) -> Iterator[Renderer]:
        """``with renderer.many():`` around a run of ``render`` calls: the render clock's
        handler and the memory cap stay set throughout, instead of for each render in turn."""
        with self._memory, self._clock.held():
            yield self

    def render(self, account: Account) -> str:
        """The finished text for ``account``, trimmed of surrounding whitespace.

        Whatever goes wrong, from an undefined name to a render that runs too long, raises a
        ``TemplateError`` of one line naming the file and the account.
        """
        source = self.template.for_platform(account.platform)
        slow_for = self._too_slow.get(source.path)
        if slow_for is not None:
            raise TemplateError(f"{source.path}: not rendered for account '{account.name}': it "
                                f"took longer than {RENDER_SECONDS:g} s for '{slow_for}'")
        try:
            with self._memory, self._clock:
                text = self._render_text(source, account)
        except RenderTimeout as timeout:
            self._too_slow[source.path] = account.name
            raise TemplateError(f"{_where(timeout, source)}: cannot render for account "
                                f"'{account.name}': it took longer than {RENDER_SECONDS:g} s"
                                ) from None
        except TemplateError:
            raise  # already one line: a bad front matter in an included file
        except Exception as error:
            raise TemplateError(self._problem(source, account, error)) from None
        return text.strip()

    def _render_text(self, source: TemplateFile, account: Account) -> str:
        # generate() rather than render(), to stop as soon as the text is too long.
        parts: list[str] = []
        length = 0
        for part in self._compile(source).generate(self.context(account)):
            length += len(part)
            if length > MAX_TEXT_CHARS:
                raise LimitExceeded(f"its text is over the limit of {MAX_TEXT_CHARS:,} "
                                    "characters")
            parts.append(part)
        return "".join(parts)

    def _compile(self, source: TemplateFile) -> jinja2.Template:
        compiled = self._compiled.get(source.path)
        if compiled is None:
            # Compiled with its file name, so errors at render time can name the line.
            try:
                code = self.env.compile(source.body, filename=str(source.path))
            except (RecursionError, SyntaxError, MemoryError):
                # Jinja's parser and Python's compiler of the code it makes both give up on
                # a template nested too deeply (a hundred ifs, a thousand parentheses).
                raise too_deep(source) from None
            compiled = self.env.template_class.from_code(
                self.env, code, self.env.make_globals(None), None)
            self._compiled[source.path] = compiled
        return compiled

    def _problem(self, source: TemplateFile, account: Account, error: Exception) -> str:
        """One line saying what went wrong rendering ``source`` for ``account``."""
        import jinja2
        from jinja2.exceptions import SecurityError

        if isinstance(error, jinja2.TemplateSyntaxError):
            return _syntax_line(Path(error.filename) if error.filename else source.path, error)
        where = _where(error, source)
        if isinstance(error, ReferenceRefused):
            return f"{where}: cannot load '{error.name}': {error.reason}"
        if isinstance(error, jinja2.TemplateNotFound):
            return (f"{where}: cannot load {_either(error.templates or [error.name])}: "
                    f"no such file in {self.config.templates_dir}")
        if isinstance(error, SecurityError):
            return (f"{where}: refused for account '{account.name}': "
                    f"{_one_line(error.message or '').rstrip('.')} (templates run in a sandbox)")
        if isinstance(error, jinja2.UndefinedError):
            return self._undefined_message(source, account, error)
        return f"{where}: cannot render for account '{account.name}': {_reason(error)}"

    def _undefined_message(self, source: TemplateFile, account: Account,
                           error: jinja2.UndefinedError) -> str:
        message = str(error.message)
        where = f"{source.path}: {message} for account '{account.name}'"
        if "'borough'" in message and not account.borough:
            return f"{where}, which has no borough; select borough accounts only"
        if "'personality'" in message and not account.personality:
            return f"{where}, which has no personality; select personality accounts only"
        if message.startswith("account.") and message.endswith(" is not set"):
            field = message.removeprefix("account.").removesuffix(" is not set")
            return (f"{where}; give the account a {field} in {self.config.path}, or write "
                    f"{{% if account.{field} is defined %}} around it")
        return f"{where}; pass it with --var NAME=VALUE or add it to the account's vars"


def _reason(error: Exception) -> str:
    """Why a render failed, for a person: one line."""
    import jinja2

    if isinstance(error, LimitExceeded | NotText):
        return str(error)
    if isinstance(error, RecursionError):
        return "it nests too deeply (does a macro or include call itself?)"
    if isinstance(error, MemoryError):
        return (f"it needs more than {MAX_RENDER_MEMORY >> 20} MB of memory, the limit for one "
                "render")
    if isinstance(error, jinja2.TemplateError):
        return _one_line(str(error))
    return f"{type(error).__name__}: {_one_line(str(error))}"


def _one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut short: an exception's words may quote a long value."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def _either(names: Iterable[object]) -> str:
    return " or ".join(f"'{name}'" for name in names)


def _where(error: BaseException, source: TemplateFile) -> str:
    """``file:line`` of the innermost template code running when ``error`` was raised."""
    location = _template_location(error.__traceback__)
    return f"{location[0]}:{location[1]}" if location else str(source.path)


def _template_location(tb: TracebackType | None) -> tuple[str, int] | None:
    found = None
    while tb is not None:
        frame_globals = tb.tb_frame.f_globals
        template = frame_globals.get("__jinja_template__")
        if "__jinja_exception__" in frame_globals:  # a frame Jinja rewrote to point at the file
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        elif template is not None and template.filename:  # compiled template code, unrewritten
            found = (template.filename, template.get_corresponding_lineno(tb.tb_lineno))
        tb = tb.tb_next
    return found


def too_deep(source: TemplateFile) -> jinja2.TemplateSyntaxError:
    """The syntax error of a template nested more deeply than it can be read."""
    import jinja2

    return jinja2.TemplateSyntaxError("it nests too deeply to be read (blocks, brackets or "
                                      "operators inside one another); simplify it", 1,
                                      filename=str(source.path))


# The deepest a template's syntax tree may be. Every step through it (the checks that read it,
# Jinja's compiler, Python's compiler of the code that makes) recurses: a message that needs a
# tenth of this is already unreadable, and a thousand ifs or a chain of 5,000 "+" must be an
# error, not a crash.
MAX_TREE_DEPTH = 100


def parse_source(env: jinja2.Environment, source: TemplateFile) -> nodes.Template:
    """``source`` parsed by ``env``; a TemplateSyntaxError (one line) if it cannot be, or if
    it nests more deeply than ``MAX_TREE_DEPTH``."""
    try:
        tree = env.parse(source.body)
    except (RecursionError, MemoryError):
        raise too_deep(source) from None
    # Measured without recursion: the tree may be far too deep for that.
    stack: list[tuple[nodes.Node, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise too_deep(source)
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return tree


def _syntax_line(path: Path, error: jinja2.TemplateSyntaxError) -> str:
    return f"{path}:{error.lineno}: template syntax error: {error.message}"


def syntax_problems(template: MessageTemplate) -> list[str]:
    """Jinja syntax errors in every file of ``template``, one line each."""
    import jinja2

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    problems = []
    for source in (template.base, *template.variants.values()):
        try:
            parse_source(env, source)
        except jinja2.TemplateSyntaxError as error:
            problems.append(_syntax_line(source.path, error))
    return problems


def reference_problems(template: MessageTemplate, templates_dir: Path) -> list[str]:
    """Each ``include``, ``import`` or ``extends`` that names a missing file or one outside
    ``templates_dir``, in the template's files and in every file they reach, and the syntax
    and front-matter errors of the files reached. Found by reading, without rendering."""
    import jinja2

    env = jinja2.Environment()
    problems: list[str] = []
    # (file, reached through a reference?): the template's own syntax errors are for
    # syntax_problems to report.
    queue = [(source, False) for source in (template.base, *template.variants.values())]
    seen = {_real(source.path) for source, _ in queue}
    while queue:
        source, reached = queue.pop(0)
        try:
            tree = parse_source(env, source)
        except jinja2.TemplateSyntaxError as error:
            if reached:
                problems.append(_syntax_line(source.path, error))
            continue
        for line, names, ignore_missing in _references(tree):
            path = _loaded_file(source.path, line, names, ignore_missing, templates_dir,
                                problems)
            if path is None or _real(path) in seen:
                continue
            seen.add(_real(path))
            try:
                queue.append((read_template_file(path), True))
            except TemplateError as error:
                problems.extend(error.problems)
    return problems


def _real(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return path


def _references(tree: nodes.Template) -> list[tuple[int, list[str], bool]]:
    """(line, names, ignore missing) of every include, import and extends whose names are
    written out; a name computed at render time is checked when it renders."""
    from jinja2 import nodes

    references: list[nodes.Extends | nodes.Include | nodes.Import | nodes.FromImport] = [
        *tree.find_all(nodes.Extends), *tree.find_all(nodes.Include),
        *tree.find_all(nodes.Import), *tree.find_all(nodes.FromImport)]
    found = []
    for node in sorted(references, key=lambda node: node.lineno):
        expression = node.template
        items = expression.items if isinstance(expression, nodes.List | nodes.Tuple) else [
            expression]
        names = [item.value for item in items
                 if isinstance(item, nodes.Const) and isinstance(item.value, str)]
        if len(names) == len(items):
            found.append((node.lineno, names, bool(getattr(node, "ignore_missing", False))))
    return found


def _loaded_file(source: Path, line: int, names: list[str], ignore_missing: bool,
                 templates_dir: Path, problems: list[str]) -> Path | None:
    """The file a reference to ``names`` loads (Jinja takes the first that exists), noting in
    ``problems`` why there is none."""
    for name in names:
        try:
            path = referenced_file(templates_dir, name)
        except ReferenceRefused as refused:
            problems.append(f"{source}:{line}: cannot load '{refused.name}': {refused.reason}")
            return None
        if path is not None:
            return path
    if not ignore_missing:
        problems.append(f"{source}:{line}: cannot load {_either(names)}: no such file in "
                        f"{templates_dir}")
    return None


# -- the sandbox ------------------------------------------------------------------------------

class LimitExceeded(Exception):
    """A template tried to build something bigger than a render may."""


class NotText(Exception):
    """A ``{{ … }}`` gave something that has no text of its own: a function not called, a
    mapping, a list, None. Python would write its inner form (``<function … at 0x7f…>``,
    ``Account(name=…)``) into the post."""


def as_text(value: object) -> object:
    """Jinja's ``finalize``: the value of every ``{{ … }}``, let through if it is text, a
    number or something with text of its own (a date, a borough), else ``NotText``."""
    if isinstance(value, str | int | float) or type(value).__str__ is not object.__str__:
        return value
    if isinstance(value, type):
        raise NotText(f"a {{{{ … }}}} gives the class {value.__name__}, not text")
    name = getattr(value, "__name__", None) or getattr(value, "name", None)  # (a macro: name)
    if callable(value) and name:
        raise NotText(f"a {{{{ … }}}} gives the function {name}, not text: call it, as "
                      f"{name}(…)")
    kind = type(value).__name__
    what = "nothing (None)" if value is None else (
        f"{'an' if kind[0] in 'AEIOUaeiou' else 'a'} {kind}")
    raise NotText(f"a {{{{ … }}}} gives {what}, not text: write one of its fields, or make it "
                  "text with a filter such as join")


class ReferenceRefused(Exception):
    """An ``include``, ``import`` or ``extends`` named a file it may not load."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


def referenced_file(templates_dir: Path, name: object) -> Path | None:
    """The file an ``include``, ``import`` or ``extends`` names, or None if there is none.

    ``name`` is a path relative to ``templates_dir``; an absolute path, a ``..`` and a link
    that leads out of the folder are refused with ``ReferenceRefused``.
    """
    if not isinstance(name, str) or not name.strip() or "\0" in name:
        raise ReferenceRefused(str(name), "not a file name; name a file in "
                                          f"{templates_dir} by its path relative to it")
    relative = PurePosixPath(name)
    if relative.is_absolute():
        raise ReferenceRefused(name, f"an absolute path; name a file in {templates_dir} by "
                                     "its path relative to it")
    if ".." in relative.parts:
        raise ReferenceRefused(name, f"'..' leads out of {templates_dir}; name a file in it "
                                     "by its path relative to it")
    path = templates_dir / relative
    if not path.is_file():
        return None
    if not _lies_inside(path, templates_dir):
        raise ReferenceRefused(name, f"it links to a file outside {templates_dir}; templates "
                                     "must be files inside it")
    return path


def message_environment(templates_dir: Path) -> ImmutableSandboxedEnvironment:
    """The environment templates render in: Jinja's immutable sandbox, strict, with size
    limits, loading ``include``, ``import`` and ``extends`` only from ``templates_dir``."""
    import jinja2

    def load(name: str) -> tuple[str, str, None] | None:
        path = referenced_file(templates_dir, name)
        if path is None:
            return None
        # No "is it up to date" check: a run reads each file once (auto_reload is off).
        return read_template_file(path).body, str(path), None

    env = _sandbox_class()(undefined=jinja2.StrictUndefined, autoescape=False,
                           keep_trailing_newline=False, auto_reload=False,
                           loader=jinja2.FunctionLoader(load), finalize=as_text)
    for name in GROWING_FILTERS:
        env.filters[name] = _bounded_filter(env.filters[name], name)
    return env


@cache
def _sandbox_class() -> type[ImmutableSandboxedEnvironment]:
    # Built on first use so that importing metpost does not import Jinja.
    from jinja2.compiler import CodeGenerator, Frame, optimizeconst
    from jinja2.runtime import Context, markup_join, str_join
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class CheckedConcatCompiler(CodeGenerator):
        """Jinja's compiler, but ``~`` calls the sandbox's ``call_concat`` (Jinja has no hook
        for it), so that its length is checked before the strings are joined."""

        @optimizeconst
        def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
            self.write("environment.call_concat(context, (")
            for operand in node.nodes:
                self.visit(operand, frame)
                self.write(", ")
            self.write("))")

    class MessageSandbox(ImmutableSandboxedEnvironment):
        """Jinja's immutable sandbox, refusing any one step that would build too big a value,
        before it is built where the size can be told beforehand, else as soon as it is."""

        intercepted_binops = frozenset({"*", "**", "%", "+"})
        code_generator_class = CheckedConcatCompiler

        def getattr(self, obj: Any, attribute: str) -> Any:
            """``account.handle`` (``.borough``, ``.personality``, ``.api_url``) of an account
            that has none is undefined, as ``borough`` is: never the word None in a post."""
            value = super().getattr(obj, attribute)
            if value is None and isinstance(obj, Account):
                return self.undefined(f"account.{attribute} is not set", obj=obj, name=attribute)
            return value

        def getitem(self, obj: Any, argument: Any) -> Any:
            value = super().getitem(obj, argument)
            if value is None and isinstance(obj, Account) and isinstance(argument, str):
                return self.undefined(f"account.{argument} is not set", obj=obj, name=argument)
            return value

        def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
            """``*``, ``**``, ``%`` and ``+``, refused when the result would be too big."""
            _check_operands(operator, left, right)
            return _bounded(self.binop_table[operator](left, right))

        def call_concat(self, context: Context, operands: tuple[Any, ...]) -> str:
            """``~``: the operands as text, joined, refused when that would be too long."""
            texts = [operand if isinstance(operand, str) else str(operand)
                     for operand in operands]
            _check_length(sum(map(len, texts)), str)
            return (markup_join if context.eval_ctx.autoescape else str_join)(texts)

        def call(self, context: Context, function: Any, /, *args: Any, **kwargs: Any) -> Any:
            """A call from a template, refused when it would return too big a value."""
            _check_call(function, args, kwargs)
            return _bounded(super().call(context, function, *args, **kwargs))

        def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
            """A string's ``format`` or ``format_map``, refused when a width or precision,
            written out or taken from the arguments (``{:>{w}}``), is over the limit."""
            format_method = super().wrap_str_format(value)
            if format_method is None:
                return None
            template, takes_mapping = value.__self__, value.__name__ == "format_map"

            def checked(*args: Any, **kwargs: Any) -> str:
                if not takes_mapping:
                    _check_format_fields(self, template, args, kwargs)
                elif len(args) == 1 and not kwargs:  # else format_map refuses the call itself
                    _check_format_fields(self, template, (), args[0])
                return format_method(*args, **kwargs)

            return checked

    return MessageSandbox


def _check_operands(operator: str, left: Any, right: Any) -> None:
    """Refuse, before it is computed, an operation whose result would be too big."""
    if operator == "*":
        for sequence, times in ((left, right), (right, left)):
            if isinstance(sequence, str | list | tuple) and isinstance(times, int):
                _check_length(len(sequence) * times, type(sequence))
        if isinstance(left, int) and isinstance(right, int):
            _check_bits(left.bit_length() + right.bit_length())
    elif operator == "+":
        if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            _check_length(len(left) + len(right), type(left))
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            _check_bits(math.log2(abs(left)) * right)
    elif operator == "%" and isinstance(left, str):
        _check_printf(left, right)


def _check_call(function: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse a str method whose width, tab size or replacement would build too big a string.
    (``format`` and ``format_map`` are checked by ``wrap_str_format``.)"""
    owner = getattr(function, "__self__", None)
    if not isinstance(owner, str):
        return
    name = getattr(function, "__name__", "")
    if name in PADDING_METHODS:
        _check_widths((*args, *kwargs.values()))
    check = STR_METHOD_CHECKS.get(name)
    if check is not None:
        _check_arguments(check, getattr(str, name), (owner, *args), kwargs)


def _bounded_filter(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``function`` (the filter ``name``), refusing too big a width, format or result."""
    # pass_context, pass_eval_context and pass_environment filters take that before the value.
    first_option = 2 if getattr(function, "jinja_pass_arg", None) else 1
    check = FILTER_CHECKS.get(name)

    @wraps(function)  # keeps jinja_pass_arg, so Jinja still passes what the filter expects
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if name in PADDING_FILTERS:
            _check_widths((*args[first_option:], *kwargs.values()))
        if check is not None:
            _check_arguments(check, function, args, kwargs)
        return _bounded(function(*args, **kwargs))

    return bounded


# A check is given a call's arguments by the names of the parameters they are for.
ArgumentCheck = Callable[[Mapping[str, Any]], None]
# Str methods and filters whose result can be far longer than what they are given, each with
# the check that refuses it, before it runs, when the result would be over the limit.
STR_METHOD_CHECKS: dict[str, ArgumentCheck] = {
    "replace": lambda call: _check_replace(call["self"], call["old"], call["new"], call["count"]),
    "expandtabs": lambda call: _check_expandtabs(call["self"], call["tabsize"]),
    "join": lambda call: _check_join(call["iterable"], call["self"]),
    "translate": lambda call: _check_translate(call["self"], call["table"]),
}
FILTER_CHECKS: dict[str, ArgumentCheck] = {
    "format": lambda call: _check_printf(str(call["value"]), call["kwargs"] or call["args"]),
    "replace": lambda call: _check_replace(call["s"], call["old"], call["new"], call["count"]),
    "indent": lambda call: _check_indent(call["s"], call["width"]),
    "join": lambda call: _check_join(call["value"], call["d"]),
    "wordwrap": lambda call: _check_wordwrap(call["s"], call["width"], call["wrapstring"]),
    "sum": lambda call: _check_sum(call["iterable"], call["start"]),
}


def _check_arguments(check: ArgumentCheck, function: Callable[..., Any], args: tuple[Any, ...],
                     kwargs: Mapping[str, Any]) -> None:
    """``check`` the arguments of a call of ``function``, named and with defaults filled in,
    unless they do not fit it (the call itself then says why)."""
    try:
        bound = _signature(function).bind(*args, **kwargs)
    except TypeError:
        return
    bound.apply_defaults()
    check(bound.arguments)


@cache
def _signature(function: Callable[..., Any]) -> Any:  # an inspect.Signature
    import inspect

    return inspect.signature(function)


# A printf-style conversion after its "%" and "(key)": flags, width, precision, length and
# type. Width and precision are digits, or "*" to take them from the arguments.
PRINTF_CONVERSION = re.compile(r"[-+ #0]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?.?", re.DOTALL)
PARENTHESIS = re.compile(r"[()]")


def _check_printf(template: str, values: object) -> None:
    """Refuse a printf-style format (``%`` or the format filter) with a width or precision
    over the limit, written out or taken from the arguments by ``*``, before formatting."""
    arguments = iter(values if isinstance(values, tuple) else (values,))
    for sizes in _printf_sizes(template):
        for size in sizes:
            _check_field_size(next(arguments, None) if size == "*" else int(size or 0))
        next(arguments, None)  # the value the conversion formats


def _printf_sizes(template: str) -> Iterator[tuple[str, str]]:
    """The width and precision of each conversion in a printf-style format, as written:
    digits, "*" or ""."""
    start = template.find("%")
    while start >= 0:
        position = start + 1
        if template.startswith("%", position):  # "%%", a percent sign
            start = template.find("%", position + 1)
            continue
        if template.startswith("(", position):
            position = _end_of_key(template, position)
        conversion = PRINTF_CONVERSION.match(template, position)
        assert conversion is not None  # it matches anything: every part of it is optional
        yield conversion[1], conversion[2] or ""
        start = template.find("%", conversion.end())


def _end_of_key(template: str, position: int) -> int:
    """Where the mapping key opening at ``position`` ends; as Python counts, its parentheses
    nest: ``%(a(b))s`` is the key ``a(b)``."""
    depth = 0
    for parenthesis in PARENTHESIS.finditer(template, position):
        depth += 1 if parenthesis[0] == "(" else -1
        if depth == 0:
            return parenthesis.end()
    return len(template)


# The width and precision of a format spec ("{:>10.2f}"), after any fill, align, sign, "z",
# "#" and "0". Like str.format, \d takes any Unicode digits.
FORMAT_SPEC = re.compile(r"(?:.?[<>=^])?[-+ ]?z?#?0?(\d*)[,_]?(?:\.(\d*))?", re.DOTALL)


def _check_format_fields(environment: ImmutableSandboxedEnvironment, template: str,
                         args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Refuse a ``str.format`` with a width or precision over the limit, written out or
    taken from the arguments by a field nested in a field's spec (``{:>{w}}``), before
    anything is formatted. Nested fields are read as the sandbox's str.format reads them."""
    from jinja2.sandbox import SandboxedFormatter

    formatter = SandboxedFormatter(environment)
    next_index = 0  # "{}" fields take the arguments in turn, each nested one after its field
    for _, name, spec, _ in formatter.parse(template):
        if name is None:
            continue
        if name == "":
            next_index += 1
        resolved = []
        for literal, inner, inner_spec, conversion in formatter.parse(spec or ""):
            resolved.append(literal)
            if inner is None:
                continue
            if any(deeper is not None for _, deeper, _, _ in formatter.parse(inner_spec or "")):
                return  # fields nest two deep at most: str.format refuses this one itself
            if inner == "":
                inner, next_index = str(next_index), next_index + 1
            _check_format_spec(inner_spec or "")
            value, _ = formatter.get_field(inner, args, kwargs)
            resolved.append(formatter.format_field(formatter.convert_field(value, conversion),
                                                   inner_spec or ""))
        _check_format_spec("".join(resolved))


def _check_format_spec(spec: str) -> None:
    sizes = FORMAT_SPEC.match(spec)
    assert sizes is not None  # it matches anything: every part of it is optional
    for size in sizes.groups():
        if size:
            _check_field_size(int(size))


def _check_field_size(size: object) -> None:
    """Refuse a format width or precision over the limit (a negative ``*`` width pads on the
    right, as far as a positive one)."""
    if isinstance(size, int) and abs(size) > MAX_TEXT_CHARS:
        raise LimitExceeded(f"a format width or precision of {size:,} is over the limit of "
                            f"{MAX_TEXT_CHARS:,}")


def _check_replace(text: object, old: object, new: object, count: object) -> None:
    """Refuse a replace whose result would be over the limit, working its length out with
    str.count, which builds nothing."""
    text, old, new = str(text), str(old), str(new)
    times = text.count(old)  # len(text) + 1 for "", as replace inserts ``new`` that often
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    _check_length(len(text) + times * (len(new) - len(old)), str)


# Where str.splitlines, and so the indent filter, ends a line ("\r\n" is one end).
LINE_ENDS = ("\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def _check_indent(text: object, width: object) -> None:
    """Refuse an indent whose result would be over the limit: each line indented once, at
    most, by ``width`` spaces or by the string ``width``."""
    if not isinstance(text, str):
        return  # the filter refuses it itself
    if isinstance(width, str):
        indentation = len(width)
    elif isinstance(width, int):
        indentation = max(width, 0)
    else:
        return
    lines = sum(map(text.count, LINE_ENDS)) - text.count("\r\n") + 1
    _check_length(len(text) + lines * indentation, str, up_to=True)


def _check_expandtabs(text: str, tabsize: object) -> None:
    """Refuse an expandtabs whose result would be over the limit: each tab becomes at most
    ``tabsize`` spaces."""
    if isinstance(tabsize, int) and tabsize > 1:
        _check_length(len(text) + text.count("\t") * (tabsize - 1), str, up_to=True)


def _check_translate(text: str, table: object) -> None:
    """Refuse a translate whose result could be over the limit: each character replaced, at
    most, by the table's longest replacement."""
    if isinstance(table, Mapping):
        replacements: Iterable[object] = table.values()
    elif isinstance(table, list | tuple):
        replacements = table
    else:
        return  # a str table maps a character to one character
    longest = max((len(value) for value in replacements if isinstance(value, str)), default=1)
    if longest > 1:
        _check_length(len(text) * longest, str, up_to=True)


def _check_join(items: object, separator: object) -> None:
    """Refuse a join of a list whose result would be over the limit: its strings and a
    separator between each two. (An iterator is measured as it is joined.)"""
    if isinstance(items, list | tuple) and isinstance(separator, str):
        joined = sum(len(item) for item in items if isinstance(item, str))
        _check_length(joined + len(separator) * max(len(items) - 1, 0), str, up_to=True)


def _check_wordwrap(text: object, width: object, wrapstring: object) -> None:
    """Refuse a wordwrap whose result would be over the limit: a ``wrapstring`` (at most) at
    every ``width`` characters and every line end."""
    if not (isinstance(text, str) and isinstance(wrapstring, str)
            and isinstance(width, int) and width > 0):
        return
    breaks = len(text) // width + sum(map(text.count, LINE_ENDS)) + 1
    _check_length(len(text) + breaks * len(wrapstring), str, up_to=True)


def _check_sum(items: object, start: object) -> None:
    """Refuse a sum of lists or strings whose result would be over the limit. It builds a
    new value at every step (a sum of 300 lists of a million takes minutes, in C code the
    clock cannot stop), so it is measured first."""
    if isinstance(items, list | tuple) and isinstance(start, list | tuple | str):
        total = len(start) + sum(len(item) for item in items
                                 if isinstance(item, list | tuple | str))
        _check_length(total, type(start))


def _check_widths(values: Iterable[Any]) -> None:
    for value in values:
        if isinstance(value, int) and value > MAX_TEXT_CHARS:
            raise LimitExceeded(f"a width of {value:,} is over the limit of {MAX_TEXT_CHARS:,}")


def _bounded(value: Any) -> Any:
    """``value``, unless it is a string, collection or number too big for a render."""
    if isinstance(value, str | list | tuple | dict | set | frozenset | bytes):
        _check_length(len(value), type(value))
    elif isinstance(value, int) and value.bit_length() > MAX_NUMBER_BITS:
        _check_bits(value.bit_length())
    return value


def _check_length(length: int, kind: type, *, up_to: bool = False) -> None:
    """Refuse a ``kind`` (str, list ...) of ``length`` (``up_to``: at most that) over the
    limit."""
    if length > MAX_TEXT_CHARS:
        what, unit = ("string", "characters") if issubclass(kind, str) else (kind.__name__,
                                                                               "items")
        raise LimitExceeded(f"a {what} of {'up to ' if up_to else ''}{length:,} {unit} is over "
                            f"the limit of {MAX_TEXT_CHARS:,}")


def _check_bits(bits: float) -> None:
    if bits > MAX_NUMBER_BITS:
        raise LimitExceeded(f"a number of about {math.ceil(bits):,} bits is over the limit of "
                            f"{MAX_NUMBER_BITS:,}")


# -- the clock ----------------------------------------------------------------------------------

class RenderTimeout(BaseException):
    """A render ran out of time. A BaseException, as KeyboardInterrupt is, so that no
    ``except Exception`` in Jinja or a filter can swallow it and let the render run on."""


class RenderClock:
    """Interrupts the code it wraps (``with clock:``) after ``seconds``, with SIGALRM.

    Only the main thread receives signals, so in other threads (and where there is no
    ``setitimer``) it does nothing. An alarm someone else had set (pytest-timeout sets one)
    still goes off when it is due, to its own handler, and is set again afterwards.

    For a run of renders, ``held()`` keeps the clock's handler installed throughout, so that
    each ``with clock:`` only winds and stops the timer (two system calls, where installing
    and restoring the handler each time cost a sixth of a broadcast's rendering).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._running = False  # our alarm may interrupt now
        self._installed = False
        self._installed_for_one = False  # installed by __enter__, for one render only
        self._previous_handler: Any = None
        self._outer_due: float | None = None  # when the alarm we found is to go off
        self._outer_interval = 0.0
        self._deadline = 0.0

    @contextmanager
    def held(self) -> Iterator[RenderClock]:
        """Keep the handler installed while the renders inside run, each in ``with clock:``."""
        self._install()
        try:
            yield self
        finally:
            self._uninstall()

    def __enter__(self) -> RenderClock:
        self._installed_for_one = not self._installed
        if self._installed_for_one:
            self._install()
        if self._installed:
            now = time.monotonic()
            self._deadline = now + self.seconds
            due = self._deadline if self._outer_due is None else min(self._deadline,
                                                                      self._outer_due)
            self._running = True
            signal.setitimer(signal.ITIMER_REAL, max(due - now, 1e-6))
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._installed:
            return
        try:
            self._running = False
        finally:  # even if the alarm interrupts the line above
            if self._installed_for_one:
                self._uninstall()
            else:  # between renders only the alarm we found may go off
                signal.setitimer(signal.ITIMER_REAL, 0 if self._outer_due is None
                                 else max(self._outer_due - time.monotonic(), 1e-6))

    def _install(self) -> None:
        if not _HAS_ALARMS or threading.get_ident() != threading.main_thread().ident:
            return
        outer_delay, self._outer_interval = signal.setitimer(signal.ITIMER_REAL, 0)
        self._previous_handler = signal.signal(signal.SIGALRM, self._on_alarm)
        self._installed = True
        self._outer_due = None
        if outer_delay:
            self._outer_due = time.monotonic() + outer_delay
            signal.setitimer(signal.ITIMER_REAL, outer_delay)

    def _uninstall(self) -> None:
        if not self._installed:
            return
        self._installed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous_handler)
        if self._outer_due is not None:
            signal.setitimer(signal.ITIMER_REAL, max(self._outer_due - time.monotonic(), 1e-6),
                             self._outer_interval)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if self._outer_due is not None and time.monotonic() >= self._outer_due:
            # The alarm we found was due first: it is its owner's, not ours.
            self._outer_due = None
            if callable(self._previous_handler):
                self._previous_handler(signum, frame)
            if self._running:
                signal.setitimer(signal.ITIMER_REAL,
                                 max(self._deadline - time.monotonic(), 1e-6))
            return
        if self._running:
            raise RenderTimeout


_HAS_ALARMS = hasattr(signal, "setitimer")  # not on Windows
