"""Mistakes in a template found without rendering it: names nothing can fill, attributes that
do not exist, variant files for platforms that do not exist.

``metpost check`` reports them for every template; a send reports them for its selection before
rendering, one line per mistake rather than one per account.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING

from metpost.models import Account, Borough, Config, Personality
from metpost.render import (
    RESERVED_NAMES,
    MessageTemplate,
    TemplateFile,
    message_environment,
    parse_source,
)
from metpost.suggest import did_you_mean

if TYPE_CHECKING:
    from jinja2 import nodes

# What a template may read from the objects metpost hands it.
ATTRIBUTES: dict[str, frozenset[str]] = {
    "borough": frozenset(field.name for field in fields(Borough)),
    "personality": frozenset(field.name for field in fields(Personality)),
    "account": frozenset(field.name for field in fields(Account)) | {"label"},
    "now": frozenset(name for name in dir(datetime) if not name.startswith("_")),
}


def variable_problems(template: MessageTemplate, config: Config, accounts: Sequence[Account],
                      given: Iterable[str] = (), *, given_in: str = "--var") -> list[str]:
    """Names in ``template`` that nothing can fill for ``accounts`` (no borough, personality,
    account var, declared variable or ``given`` variable), and attributes that do not exist;
    one line each, with the closest name. ``given_in`` says where the given variables come
    from: ``--var``, or a schedule's ``vars``."""
    import jinja2

    env = message_environment(config.templates_dir)
    available = set(env.globals) | set(template.vars) | set(given) | {"account", "now"}
    available |= {name for account in accounts for name in account.vars}
    if any(account.borough for account in accounts):
        available.add("borough")
    if any(account.personality for account in accounts):
        available.add("personality")
    problems: list[str] = []
    for source in _files(template):
        try:
            tree = parse_source(env, source)
        except jinja2.TemplateSyntaxError:
            continue  # reported as a syntax error by the caller
        problems += _unfillable(source, tree, available | _bound_names(tree),
                                suggestions=available - set(env.globals), given_in=given_in)
        problems += _bad_attributes(source, tree)
    return problems


def _bound_names(tree: nodes.Template) -> set[str]:
    """Names the template binds itself anywhere (import, set, for, macro): never reported,
    since Jinja's scoping makes some of them look free inside blocks."""
    from jinja2 import nodes

    bound: set[str] = set()
    for node in tree.find_all((nodes.Import, nodes.FromImport, nodes.Macro)):
        if isinstance(node, nodes.Import):
            bound.add(node.target)
        elif isinstance(node, nodes.FromImport):
            bound.update(name if isinstance(name, str) else name[1] for name in node.names)
        elif isinstance(node, nodes.Macro):
            bound.add(node.name)
    for target in tree.find_all(nodes.Name):
        if target.ctx in ("store", "param"):
            bound.add(target.name)
    return bound


def unused_variables(template: MessageTemplate, given: Collection[str]) -> list[str]:
    """A ``--var`` that a template declaring no variables (a --message, or a file without
    front matter) never uses: a typo, most likely, whose value would be left out without a
    word. Not judged for a template that includes or imports other files (they may use it)."""
    import jinja2
    from jinja2 import meta, nodes

    if template.vars or not given:
        return []
    env = jinja2.Environment()
    used: set[str] = set()
    for source in _files(template):
        try:
            tree = parse_source(env, source)
        except jinja2.TemplateSyntaxError:
            return []  # reported as a syntax error by the caller
        if any(True for _ in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport,
                                            nodes.Extends))):
            return []
        used |= meta.find_undeclared_variables(tree)
    where = "--message" if template.name == "--message" else f"template '{template.name}'"
    return [f"--var {name}=…: {where} never uses {{{{ {name} }}}}"
            f"{did_you_mean(name, used) or '; leave it out'}"
            for name in sorted(set(given) - used)]


def variant_problems(template: MessageTemplate, platforms: Collection[str]) -> list[str]:
    """Variant files (``name.PLATFORM.j2``) whose platform does not exist."""
    unknown = [(platform, source) for platform, source in template.variants.items()
               if platform not in platforms]
    known = sorted(platforms) if unknown else []
    return [f"{source.path}: no platform '{platform}'{did_you_mean(platform, known)}, so this "
            f"variant would never be used (known: {', '.join(known)})"
            for platform, source in unknown]


def _files(template: MessageTemplate) -> list[TemplateFile]:
    return [template.base, *template.variants.values()]


def _unfillable(source: TemplateFile, tree: nodes.Template, available: set[str], *,
                suggestions: set[str], given_in: str) -> list[str]:
    from jinja2 import meta, nodes

    # A name the template tests with "is defined" (or "is undefined") it guards itself.
    guarded = {test.node.name for test in tree.find_all(nodes.Test)
               if test.name in ("defined", "undefined") and isinstance(test.node, nodes.Name)}
    problems = []
    for name in sorted(meta.find_undeclared_variables(tree) - available - guarded):
        if name in RESERVED_NAMES:
            why = (f"no selected account has a {name}" if name in ("borough", "personality")
                   else "it is not set here")
            problems.append(f"{source.path}: {{{{ {name} }}}} cannot be filled: {why}; select "
                            f"accounts that have one, or remove it")
            continue
        give = (f"pass it with --var {name}=VALUE" if given_in == "--var"
                else f"give it in {given_in} ({name}: VALUE)")
        hint = did_you_mean(name, suggestions) or f"; {give} or add it to the accounts' vars"
        problems.append(f"{source.path}: {{{{ {name} }}}} is not a variable any account, "
                        f"borough, personality or {given_in} provides{hint}")
    return problems


def _bad_attributes(source: TemplateFile, tree: nodes.Template) -> list[str]:
    from jinja2 import nodes

    problems = []
    seen: set[tuple[str, str]] = set()
    for node in tree.find_all(nodes.Getattr):
        if not isinstance(node.node, nodes.Name) or node.node.name not in ATTRIBUTES:
            continue
        owner, attribute = node.node.name, node.attr
        # Names with "_" are the sandbox's to refuse, at render, in its own words.
        if attribute in ATTRIBUTES[owner] or attribute.startswith("_") or (
                owner, attribute) in seen:
            continue
        seen.add((owner, attribute))
        hint = did_you_mean(attribute, ATTRIBUTES[owner]) or (
            f" (it has: {', '.join(sorted(ATTRIBUTES[owner]))})" if owner != "now" else "")
        problems.append(f"{source.path}:{node.lineno}: {owner} has no '{attribute}'{hint}")
    return problems

