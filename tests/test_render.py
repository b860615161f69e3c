"""Templates: front matter, per-platform variants, strict variables, what a template sees."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from metpost.config import load_config
from metpost.errors import TemplateError
from metpost.render import (
    Renderer,
    bind_variables,
    inline_template,
    list_templates,
    load_template,
    syntax_problems,
)

CONFIG = """
boroughs:
  - {name: Hackney, bcu: CE}
personalities:
  on-the-street: {display: "MPS On The Street", signature: "Today: PC Patel"}
accounts:
  - name: hackney-x
    platform: x
    handle: "@MPSHackney"
    borough: Hackney
    tags: [borough, bcu-ce]
    vars: {website: "https://example.org/hackney"}
    credentials: {consumer_key: "${CK}", consumer_secret: "${CS}", access_token: "${AT}",
                  access_token_secret: "${ATS}"}
  - name: hackney-facebook
    platform: facebook
    page_id: "1"
    borough: Hackney
    credentials: {page_access_token: "${FB}"}
  - name: street-x
    platform: x
    personality: on-the-street
    credentials: {consumer_key: "${CK}", consumer_secret: "${CS}", access_token: "${AT}",
                  access_token_secret: "${ATS}"}
"""

TEMPLATES = {
    "rumour.j2": """\
        ---
        description: Counter a rumour.
        vars:
          rumour: What people are saying
          time: {help: When it was true, default: "now"}
        ---
        {{ borough }} ({{ borough.bcu }}): the rumour of {{ rumour }} is false ({{ time }}).
        More: {{ website }}
        """,
    "rumour.facebook.j2": """\
        A longer word for {{ borough.name }} on {{ account.platform }}: {{ rumour }} is false.
        """,
    "takeover.j2": """\
        {{ personality }} — {{ personality.signature }} at {{ now.strftime("%H:%M") }}
        """,
}

NOW = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)


@pytest.fixture
def config(project):
    return load_config(project(CONFIG, TEMPLATES))


def account(config, name):
    return next(a for a in config.accounts if a.name == name)


def test_front_matter_and_variants(config):
    template = load_template(config.templates_dir, "rumour")
    assert template.description == "Counter a rumour."
    assert sorted(template.variants) == ["facebook"]
    assert template.vars["rumour"].required
    assert template.vars["time"].default == "now"
    values = bind_variables(template, {"rumour": "a riot"})
    renderer = Renderer(config, template, values, NOW)
    assert renderer.render(account(config, "hackney-x")) == (
        "Hackney (CE): the rumour of a riot is false (now).\nMore: https://example.org/hackney")
    assert renderer.render(account(config, "hackney-facebook")) == (
        "A longer word for Hackney on facebook: a riot is false.")


def test_personality_and_now(config):
    template = load_template(config.templates_dir, "takeover")
    renderer = Renderer(config, template, {}, NOW)
    assert renderer.render(account(config, "street-x")) == (
        "MPS On The Street — Today: PC Patel at 14:30")


def test_missing_required_var_names_it_with_help(config):
    template = load_template(config.templates_dir, "rumour")
    with pytest.raises(TemplateError) as caught:
        bind_variables(template, {})
    assert caught.value.problems == (
        "template 'rumour' needs --var rumour=… (What people are saying)",)


def test_unknown_var_suggests_the_declared_one(config):
    template = load_template(config.templates_dir, "rumour")
    with pytest.raises(TemplateError) as caught:
        bind_variables(template, {"rumor": "x", "rumour": "y"})
    assert caught.value.problems == (
        "--var rumor=…: template 'rumour' takes no 'rumor' — did you mean 'rumour'? "
        "(it takes: rumour, time)",)


def test_reserved_names_cannot_be_given(config):
    with pytest.raises(TemplateError) as caught:
        bind_variables(inline_template("hi"), {"borough": "Camden"})
    assert "'borough' is set by metpost and cannot be given" in caught.value.problems[0]


def test_undefined_variable_is_an_error_not_a_blank(config):
    renderer = Renderer(config, inline_template("Hello {{ borough }} {{ nope }}"), {}, NOW)
    with pytest.raises(TemplateError) as caught:
        renderer.render(account(config, "hackney-x"))
    assert caught.value.problems == (
        "--message: 'nope' is undefined for account 'hackney-x'; pass it with --var "
        "NAME=VALUE or add it to the account's vars",)


def test_borough_is_undefined_for_accounts_without_one(config):
    renderer = Renderer(config, inline_template("Roads around {{ borough }}"), {}, NOW)
    with pytest.raises(TemplateError) as caught:
        renderer.render(account(config, "street-x"))
    assert caught.value.problems == (
        "--message: 'borough' is undefined for account 'street-x', which has no borough; "
        "select borough accounts only",)


@pytest.mark.parametrize("text", ["I run {{ account.handle }}", "I run {{ account['handle'] }}",
                                  "{{ account.handle ~ '!' }}"])
def test_an_account_field_that_is_not_set_is_undefined_not_none(config, text):
    renderer = Renderer(config, inline_template(text), {}, NOW)
    with pytest.raises(TemplateError) as caught:
        renderer.render(account(config, "street-x"))
    assert caught.value.problems == (
        f"--message: account.handle is not set for account 'street-x'; give the account a "
        f"handle in {config.path}, or write {{% if account.handle is defined %}} around it",)
    assert renderer.render(account(config, "hackney-x")).startswith(("I run @MPSHackney",
                                                                     "@MPSHackney!"))
    guarded = Renderer(config, inline_template(
        "{% if account.handle is defined %}{{ account.handle }}{% else %}{{ account.name }}"
        "{% endif %} {{ account.borough is defined }}"), {}, NOW)
    assert guarded.render(account(config, "street-x")) == "street-x False"
    assert guarded.render(account(config, "hackney-x")) == "@MPSHackney True"


def test_a_variants_own_variable_is_needed_only_where_the_variant_is_rendered(tmp_path):
    (tmp_path / "n.j2").write_text("---\nvars: {a: x}\n---\nbase {{ a }}", encoding="utf-8")
    (tmp_path / "n.facebook.j2").write_text("---\nvars: {b: y}\n---\nfb {{ b }} {{ a }}",
                                            encoding="utf-8")
    template = load_template(tmp_path, "n")
    assert bind_variables(template, {"a": "1"}, {"x"}) == {"a": "1"}
    for platforms in ({"facebook"}, {"x", "facebook"}, None):
        with pytest.raises(TemplateError) as caught:
            bind_variables(template, {"a": "1"}, platforms)
        assert caught.value.problems == ("template 'n' needs --var b=… (y)",)
    with pytest.raises(TemplateError):  # the base file's variables stay required everywhere
        bind_variables(template, {"b": "2"}, {"facebook"})


def test_unknown_template_suggests(config):
    with pytest.raises(TemplateError) as caught:
        load_template(config.templates_dir, "rumor")
    assert caught.value.problems == (
        "unknown template 'rumor' — did you mean 'rumour'?; see metpost templates list",)


def test_a_template_name_that_is_a_folder_or_a_pipe_is_said_to_be_so(config):
    import os

    folder = config.templates_dir / "road.j2"
    folder.mkdir()
    os.mkfifo(config.templates_dir / "pipe.j2")
    for name, kind in (("road", "a folder"), ("pipe", "not a regular file")):
        with pytest.raises(TemplateError) as caught:
            load_template(config.templates_dir, name)
        path = config.templates_dir / f"{name}.j2"
        assert caught.value.problems == (
            f"template '{name}': {path} is {kind}; a template is a text file",)


def test_syntax_error_has_file_and_real_line(config):
    path = config.templates_dir / "broken.j2"
    path.write_text("---\ndescription: x\n---\nline four\n{{ borough }\n", encoding="utf-8")
    problems = syntax_problems(load_template(config.templates_dir, "broken"))
    assert problems == [f"{path}:5: template syntax error: unexpected '}}'"]


def test_list_templates(config):
    names = [t.name for t in list_templates(config.templates_dir)]
    assert names == ["rumour", "takeover"]


def test_renderer_renders_in_the_immutable_sandbox(config):
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    renderer = Renderer(config, inline_template("hi"), {}, NOW)
    assert isinstance(renderer.env, ImmutableSandboxedEnvironment)


def test_what_the_readme_promises_works_in_the_sandbox(config):
    text = (
        "{{ borough }} {{ borough.bcu }} {{ borough.name|upper }} {{ account.handle }} "
        "{{ account.name }} {{ account.platform }} {{ account.tags|join(',') }} "
        "{{ account.vars.website }} {{ website|replace('https://', '') }} "
        "{{ now.strftime('%H:%M') }} {{ now.hour }}\n"
        "{% for tag in account.tags %}[{{ loop.index }}:{{ tag }}]{% endfor %} "
        "{% if borough is defined %}yes{% else %}no{% endif %} |{{ 'x'|center(5) }}| "
        "{{ '%s-%s'|format(1, 2) }} {{ '{}!'.format(borough) }} {{ '%d%%' % 5 }} "
        "{{ (2 * 3) ** 2 }} {{ [1, 2, 3]|sum }} {{ 'ab' * 2 }} {{ nothing|default('none') }} "
        "{% set greeting = 'Good ' ~ ('afternoon' if now.hour >= 12 else 'morning') %}"
        "{{ greeting }} {{ range(3)|join(', ') }} {{ {'b': 1, 'a': 2}|dictsort|first|first }}")
    renderer = Renderer(config, inline_template(text), {"nothing": ""}, NOW)
    assert renderer.render(account(config, "hackney-x")) == (
        "Hackney CE HACKNEY @MPSHackney hackney-x x borough,bcu-ce https://example.org/hackney "
        "example.org/hackney 14:30 14\n"
        "[1:borough][2:bcu-ce] yes |  x  | 1-2 Hackney! 5% 36 6 abab  "
        "Good afternoon 0, 1, 2 a")


FRONT = "---\ndescription: Roads reopening notice\nvars: {road: The road}\n---\n"
BODY = "Roads around {{ borough }} are reopening: {{ road }}."


def test_a_byte_order_mark_before_the_front_matter_is_no_part_of_the_template(tmp_path):
    (tmp_path / "roads.j2").write_bytes(b"\xef\xbb\xbf" + (FRONT + BODY).encode("utf-8"))
    template = load_template(tmp_path, "roads")
    assert template.description == "Roads reopening notice"
    assert template.base.body.endswith(BODY) and "description" not in template.base.body
    assert "\ufeff" not in template.base.body


@pytest.mark.parametrize("text, problem", [
    ("\n\n" + FRONT + BODY, "roads.j2:3: front matter must begin on the first line; remove the "
     "blank lines before its ---"),
    (FRONT.removesuffix("---\n") + BODY, "roads.j2:1: front matter has no closing ---; end it "
     "with a line of three dashes, before the message"),
    (FRONT.removesuffix("---\n") + "...\n" + BODY, "roads.j2:1: front matter has no closing "
     "---; end it with a line of three dashes, before the message"),
    ("{# roads #}\n" + FRONT + BODY, "roads.j2:2: front matter must begin on the first line; "
     "move the text above its --- below the closing ---"),
    ("Roads\n---\n\nvars: {}\n---\n" + BODY, "roads.j2:2: front matter must begin on the first "
     "line; move the text above its --- below the closing ---"),
])
def test_front_matter_that_cannot_be_read_is_refused_not_posted(tmp_path, text, problem):
    (tmp_path / "roads.j2").write_text(text, encoding="utf-8")
    with pytest.raises(TemplateError) as caught:
        load_template(tmp_path, "roads")
    [line] = caught.value.problems
    assert line.endswith(problem), line


@pytest.mark.parametrize("vars_line, problem", [
    ("vars: {road: {help: The road, required: true}}",
     "front matter: vars.road: unknown key 'required' (a variable takes help and default; one "
     "without a default must be given with --var)"),
    ("vars: {road: {help: The road, defualt: A10}}",
     "front matter: vars.road: unknown key 'defualt' — did you mean 'default'? (a variable "
     "takes help and default; one without a default must be given with --var)"),
    ("vars: {road: {help: The road, default: [A10, A12]}}",
     "front matter: vars.road.default must be text, not a list; quote it"),
    ("vars: {road: {help: {text: The road}}}",
     "front matter: vars.road.help must be text, not a mapping; quote it"),
    ("vars: {road: yes}", "front matter: vars.road must be text, not true or false; quote it"),
])
def test_a_variable_declared_wrongly_is_refused_not_taken_as_python_prints_it(tmp_path,
                                                                             vars_line, problem):
    (tmp_path / "roads.j2").write_text(f"---\n{vars_line}\n---\n{BODY}", encoding="utf-8")
    with pytest.raises(TemplateError) as caught:
        load_template(tmp_path, "roads")
    assert caught.value.problems == (f"{tmp_path / 'roads.j2'}: {problem}",)


def test_a_numeric_default_is_taken_as_written(tmp_path):
    (tmp_path / "roads.j2").write_text(f"---\nvars: {{road: {{default: 10}}}}\n---\n{BODY}",
                                       encoding="utf-8")
    assert load_template(tmp_path, "roads").vars["road"].default == "10"


def test_a_message_that_merely_contains_dashes_is_a_message(tmp_path):
    text = "Roads reopen.\n---\nMore soon.\n---\nDescription of the works: online."
    (tmp_path / "divider.j2").write_text(text, encoding="utf-8")
    assert load_template(tmp_path, "divider").base.body == text


def test_a_variant_without_its_template_is_named_and_the_others_still_listed(tmp_path):
    from metpost.render import orphan_variants

    (tmp_path / "roads.j2").write_text(BODY, encoding="utf-8")
    (tmp_path / "orphan.facebook.j2").write_text("For the page.", encoding="utf-8")
    assert [template.name for template in list_templates(tmp_path)] == ["roads"]
    assert orphan_variants(tmp_path) == [tmp_path / "orphan.facebook.j2"]
    with pytest.raises(TemplateError) as caught:
        load_template(tmp_path, "orphan")
    assert caught.value.problems == (
        f"{tmp_path}/orphan.facebook.j2: a variant of template 'orphan', which has no "
        "orphan.j2; add that file, or rename this one",)


@pytest.mark.parametrize(("text", "problem"), [
    ("{{ lipsum }}", "gives the function generate_lorem_ipsum, not text: call it, as "
                     "generate_lorem_ipsum(…)"),
    ("{% macro sign() %}PC Patel{% endmacro %}{{ sign }}",
     "gives the function sign, not text: call it, as sign(…)"),
    ("{{ cycler }}", "gives the class Cycler, not text"),
    ("{{ account }}", "gives an Account, not text: write one of its fields, or make it text "
                      "with a filter such as join"),
    ("{{ account.tags }}", "gives a tuple, not text: write one of its fields, or make it text "
                           "with a filter such as join"),
    ("{{ account.vars }}", "gives a dict, not text: write one of its fields, or make it text "
                           "with a filter such as join"),
    ("{{ none }}", "gives nothing (None), not text: write one of its fields, or make it text "
                   "with a filter such as join"),
])
def test_a_value_with_no_text_of_its_own_is_refused_not_posted_as_python_writes_it(
        config, text, problem):
    # Python would write "<function generate_lorem_ipsum at 0x7f…>", or the account's whole
    # inner form, into the post.
    renderer = Renderer(config, inline_template(text), {}, NOW)
    with pytest.raises(TemplateError) as refused:
        renderer.render(account(config, "hackney-x"))
    assert refused.value.problems == (
        f"--message:1: cannot render for account 'hackney-x': a {{{{ … }}}} {problem}",)
