"""A hostile template author: no secrets, no commands, no files outside templates/, no runaway
renders. Each attempt is one error line, exit 2, no traceback and nothing sent, found before the
first post, with --dry-run and with --yes alike."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from metpost.config import load_config
from metpost.errors import TemplateError
from metpost.render import (
    LimitExceeded,
    RenderClock,
    Renderer,
    RenderTimeout,
    inline_template,
    load_template,
    message_environment,
)
from tests.conftest import PROJECT, Outcome, run

SECRET = "s3cr3t-never-to-be-printed-4711"
SECRET_ENV = {"SANDBOX_SECRET": SECRET, "SBX_CK": "ck", "SBX_CS": "cs", "SBX_AT": "1001-at",
              "SBX_ATS": "ats", "SBX_FB": "page-token"}
NOW = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)


@dataclass
class Sandbox:
    """A project whose two accounts are ready to post to fake X and Graph servers."""

    x: Any
    graph: Any
    config: Path
    templates: Path
    ledger: Path

    def send(self, template: str, mode: str, *extra: str,
             account: str | None = "hackney-x") -> Outcome:
        """``metpost send --template TEMPLATE`` with ``--dry-run`` or ``--yes``."""
        selection = ["--account", account] if account else ["--borough", "Hackney"]
        return run(["send", "--config", str(self.config), "--ledger", str(self.ledger),
                    *selection, "--template", template, mode, *extra], env=SECRET_ENV)

    def write(self, name: str, body: str) -> Path:
        path = self.templates / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
        return path

    @property
    def nothing_sent(self) -> bool:
        return (self.x.request_count == 0 and self.graph.request_count == 0
                and not self.ledger.exists())


@pytest.fixture
def sandbox(project, tmp_path):
    from tests.fake_platforms import FakeGraph, FakeX

    with FakeX() as x, FakeGraph() as graph:
        x.add_user("1001", "MPSHackney", "ck", "1001-at")
        graph.add_page("1001", "Hackney", "page-token")
        config = project(f"""
            boroughs:
              - {{name: Hackney, bcu: CE}}
            accounts:
              - name: hackney-x
                platform: x
                handle: "@MPSHackney"
                borough: Hackney
                api_url: {x.url}
                credentials: {{consumer_key: "${{SBX_CK}}", consumer_secret: "${{SBX_CS}}",
                               access_token: "${{SBX_AT}}", access_token_secret: "${{SBX_ATS}}"}}
              - name: hackney-facebook
                platform: facebook
                page_id: "1001"
                borough: Hackney
                api_url: {graph.url}
                credentials: {{page_access_token: "${{SBX_FB}}"}}
            """)
        yield Sandbox(x=x, graph=graph, config=config, templates=config.parent / "templates",
                      ledger=tmp_path / "ledger.sqlite3")


def assert_refused(outcome: Outcome, *lines: str) -> None:
    """Exactly these error lines, exit 2, no traceback, and no secret anywhere."""
    everything = outcome.stdout + outcome.stderr
    assert outcome.exit_code == 2, everything
    assert "Traceback" not in everything
    assert SECRET not in everything
    assert outcome.stdout == ""
    assert outcome.error_lines == [f"metpost: error: {line}" for line in lines]


MODES = ["--dry-run", "--yes"]


def test_the_harness_does_send_a_harmless_template(sandbox):
    # Without this, "nothing sent" below could hold for a reason that is not the sandbox.
    sandbox.write("fine.j2", "{{ borough }} ({{ borough.bcu }}) {{ account.handle }}\n")
    outcome = sandbox.send("fine", "--yes")
    assert outcome.exit_code == 0, outcome.stderr
    assert [post.text for post in sandbox.x.live_posts()] == ["Hackney (CE) @MPSHackney"]
    assert sandbox.ledger.exists()


# -- 1. no way out of the sandbox -------------------------------------------------------------

UNSAFE = "(templates run in a sandbox)"
ESCAPES = {
    "lipsum globals, os.environ": (
        "{{ lipsum.__globals__['os'].environ['SANDBOX_SECRET'] }}",
        "access to attribute '__globals__' of 'function' object is unsafe"),
    "cycler globals, os.popen": (
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "access to attribute '__init__' of 'type' object is unsafe"),
    "the str class and its mro": (
        "{{ ''.__class__.__mro__ }}",
        "access to attribute '__class__' of 'str' object is unsafe"),
    "the account's class": (
        "{{ account.__class__ }}",
        "access to attribute '__class__' of 'Account' object is unsafe"),
    "str.format reaching attributes": (
        "{{ '{0.__class__}'.format(account) }}",
        "access to attribute '__class__' of 'Account' object is unsafe"),
    "str.format_map reaching attributes": (
        "{{ '{b.__class__}'.format_map({'b': borough}) }}",
        "access to attribute '__class__' of 'Borough' object is unsafe"),
    "the attr filter": (
        "{{ (now|attr('__class__')).__subclasses__() }}",
        "access to attribute '__class__' of 'datetime' object is unsafe"),
    "a mutating method": (
        "{{ account.vars.update({'website': 'https://evil.example'}) }}",
        "access to attribute 'update' of 'dict' object is unsafe"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(ESCAPES))
def test_sandbox_escapes_are_one_line_refusals(sandbox, case, mode):
    body, message = ESCAPES[case]
    path = sandbox.write("hostile.j2", "Hello {{ borough }}\n" + body + "\n")
    outcome = sandbox.send("hostile", mode)
    assert_refused(outcome, f"{path}:2: refused for account 'hackney-x': {message} {UNSAFE}")
    assert sandbox.nothing_sent


def test_a_secret_in_the_environment_is_not_reachable_at_all(sandbox):
    # Each way in, tried where it would otherwise print its loot (a dry run shows the text).
    attempts = [
        "{{ lipsum.__globals__.os.environ.SANDBOX_SECRET }}",
        "{{ lipsum.__globals__['os'].environ }}",
        "{{ cycler.__init__.__globals__.os.environ['SANDBOX_SECRET'] }}",
        "{{ namespace.__init__.__globals__.os.environ }}",
        "{{ '{0.__globals__[os].environ}'.format(lipsum) }}",
        "{{ self._TemplateReference__context }}",
        "{{ joiner.__init__.__globals__['os'].environ }}",
        "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    ]
    for number, body in enumerate(attempts):
        sandbox.write(f"try{number}.j2", body)
        outcome = sandbox.send(f"try{number}", "--dry-run", "--json")
        everything = outcome.stdout + outcome.stderr
        assert SECRET not in everything, body
        assert outcome.exit_code == 2, (body, everything)
        assert len(outcome.error_lines) == 1 and "Traceback" not in everything, everything
    inline = run(["send", "--config", str(sandbox.config), "--account", "hackney-x", "--yes",
                  "--message", attempts[0]], env=SECRET_ENV)
    assert_refused(inline, "--message:1: refused for account 'hackney-x': access to attribute "
                           f"'__globals__' of 'function' object is unsafe {UNSAFE}")
    assert sandbox.nothing_sent


# -- 2. bounded renders -------------------------------------------------------------------------

LIMITS = {
    "division by zero": ("{{ 1 / 0 }}", ":2", "ZeroDivisionError: division by zero"),
    "a range over MAX_RANGE": (
        "{% for i in range(10 ** 6) %}{% endfor %}", ":2",
        "OverflowError: Range too big. The sandbox blocks ranges larger than MAX_RANGE "
        "(100000)."),
    "a recursive macro": (
        "{% macro again(n) %}{{ again(n + 1) }}{% endmacro %}{{ again(1) }}", ":2",
        "it nests too deeply (does a macro or include call itself?)"),
    "a huge string": (
        "{{ 'x' * 10 ** 9 }}", ":2",
        "a string of 1,000,000,000 characters is over the limit of 1,000,000"),
    "a huge list": (
        "{{ (10 ** 8 * [0])|length }}", ":2",
        "a list of 100,000,000 items is over the limit of 1,000,000"),
    "a huge number": (
        "{{ 7 ** (10 ** 9) }}", ":2",
        "a number of about 2,807,354,923 bits is over the limit of 100,000"),
    "a huge padding method": (
        "{{ borough.name.ljust(10 ** 8) }}", ":2",
        "a width of 100,000,000 is over the limit of 1,000,000"),
    "a huge padding filter": (
        "{{ borough|center(100000000) }}", ":2",
        "a width of 100,000,000 is over the limit of 1,000,000"),
    "a huge format width": (
        "{{ '{:>999999999}'.format(borough.name) }}", ":2",
        "a format width or precision of 999,999,999 is over the limit of 1,000,000"),
    "a huge printf width": (
        "{{ '%0999999999d' % 5 }}", ":2",
        "a format width or precision of 999,999,999 is over the limit of 1,000,000"),
    # From here, those in TOO_BIG_TO_BUILD are refused before the value is built.
    "a printf width from the arguments": (
        "{{ '%*d'|format(2000000000, 1) }}", ":2",
        "a format width or precision of 2,000,000,000 is over the limit of 1,000,000"),
    "a printf width after a key with parentheses": (
        "{{ '%(a(b))999999999s'|format(**{'a(b)': 'x'}) }}", ":2",
        "a format width or precision of 999,999,999 is over the limit of 1,000,000"),
    "a printf precision from the arguments": (
        "{{ '%.*f' % (1000000000, 1) }}", ":2",
        "a format width or precision of 1,000,000,000 is over the limit of 1,000,000"),
    "a format width from a nested field": (
        "{{ '{:>{w}}'.format('x', w=2000000000) }}", ":2",
        "a format width or precision of 2,000,000,000 is over the limit of 1,000,000"),
    "a format width from a numbered nested field": (
        "{{ '{:>{}}'.format('x', 2000000000) }}", ":2",
        "a format width or precision of 2,000,000,000 is over the limit of 1,000,000"),
    "a format_map precision from a nested field": (
        "{{ '{x:.{p}f}'.format_map({'x': 1.5, 'p': 1000000000}) }}", ":2",
        "a format width or precision of 1,000,000,000 is over the limit of 1,000,000"),
    "a growing replace": (
        "{{ ('x' * 999999)|replace('x', 'xx') }}", ":2",
        "a string of 1,999,998 characters is over the limit of 1,000,000"),
    "a replace with a long replacement": (
        "{{ ('a' * 2000)|replace('a', 'b' * 999999) }}", ":2",
        "a string of 1,999,998,000 characters is over the limit of 1,000,000"),
    "a str.replace with a long replacement": (
        "{{ ('a' * 2000).replace('a', 'b' * 999999) }}", ":2",
        "a string of 1,999,998,000 characters is over the limit of 1,000,000"),
    "a wide indent of many lines": (
        "{{ ('a\\n' * 2000)|indent(999999) }}", ":2",
        "a string of up to 2,001,001,999 characters is over the limit of 1,000,000"),
    "a wide indent of lines ended by CR": (
        "{{ ('a\\r' * 2000)|indent(999999) }}", ":2",
        "a string of up to 2,001,001,999 characters is over the limit of 1,000,000"),
    "a wide expandtabs of many tabs": (
        "{{ ('\\t' * 2000).expandtabs(999999) }}", ":2",
        "a string of up to 1,999,998,000 characters is over the limit of 1,000,000"),
    "a join with a long separator": (
        "{{ (['a'] * 3000)|join('x' * 999999) }}", ":2",
        "a string of up to 2,999,000,001 characters is over the limit of 1,000,000"),
    "a str.join with a long separator": (
        "{{ ('x' * 999999).join(['a'] * 3000) }}", ":2",
        "a string of up to 2,999,000,001 characters is over the limit of 1,000,000"),
    "a wordwrap with a long wrapstring": (
        "{{ ('a' * 5000)|wordwrap(1, wrapstring='x' * 999999) }}", ":2",
        "a string of up to 5,000,999,999 characters is over the limit of 1,000,000"),
    "a translate with a long replacement": (
        "{{ ('ab' * 4000).translate({97: 'y' * 999999}) }}", ":2",
        "a string of up to 7,999,992,000 characters is over the limit of 1,000,000"),
    "a sum of lists": (
        "{{ ([[0] * 999999] * 300)|sum(start=[]) }}", ":2",
        "a list of 299,999,700 items is over the limit of 1,000,000"),
    "a string doubled with ~": (
        "{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}"
        "{% endfor %}", ":2",
        "a string of 1,048,576 characters is over the limit of 1,000,000"),
    "a string doubled with +": (
        "{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}", ":2",
        "a string of 1,048,576 characters is over the limit of 1,000,000"),
    "text that grows too long": (
        "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", "",
        "its text is over the limit of 1,000,000 characters"),
    "a render that takes too long": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", ":2",
        "it took longer than 1 s"),
    "any other error": (
        "{{ now.replace(month=13) }}", ":2", "ValueError: month must be in 1..12"),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(LIMITS))
def test_runaway_renders_are_stopped_in_a_couple_of_seconds(sandbox, case, mode):
    body, line, reason = LIMITS[case]
    path = sandbox.write("hostile.j2", "Hello {{ borough }}\n" + body + "\n")
    started = time.monotonic()
    outcome = sandbox.send("hostile", mode)
    assert time.monotonic() - started < 2.5
    assert_refused(outcome, f"{path}{line}: cannot render for account 'hackney-x': {reason}")
    assert sandbox.nothing_sent


@pytest.mark.parametrize("mode", MODES)
def test_a_slow_template_is_not_run_again_for_every_account(sandbox, mode):
    path = sandbox.write("slow.j2", "{% for i in range(100000) %}{% for j in range(100000) %}"
                                    "{% endfor %}{% endfor %}")
    started = time.monotonic()
    outcome = sandbox.send("slow", mode, account=None)  # both Hackney accounts
    assert time.monotonic() - started < 2.5
    assert_refused(
        outcome,
        f"{path}:1: cannot render for account 'hackney-x': it took longer than 1 s",
        f"{path}: not rendered for account 'hackney-facebook': it took longer than 1 s for "
        "'hackney-x'")
    assert sandbox.nothing_sent


# Renders a --message in a process of its own, its memory capped so that a regression fails the
# test instead of the machine, and prints the one-line problems, the seconds the render took and
# the process's peak memory. That is VmHWM, the peak of this process's own memory: Linux carries
# the test run's peak over into ru_maxrss of a process it starts, and into RUSAGE_CHILDREN.
RENDER_IN_A_CHILD = """
import json, re, resource, sys, time
from datetime import UTC, datetime
from pathlib import Path
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
from metpost.config import load_config
from metpost.errors import TemplateError
import metpost.render
from metpost.render import Renderer, inline_template
# What is tested here is the memory cap: the render clock must not end a render first on a
# busy machine.
metpost.render.RENDER_SECONDS = 30.0
config = load_config(Path(sys.argv[1]))
renderer = Renderer(config, inline_template(sys.argv[2]), {}, datetime(2026, 11, 24, tzinfo=UTC))
started = time.monotonic()
try:
    renderer.render(config.accounts[0])
    problems = []
except TemplateError as error:
    problems = error.problems
seconds = time.monotonic() - started
with open("/proc/self/status") as status:
    peak_kib = int(re.search(r"VmHWM:\\s*(\\d+) kB", status.read())[1])
print(json.dumps({"problems": problems, "seconds": seconds, "peak_kib": peak_kib}))
"""
# Each took seconds and about 2 GB (the doubling 0.8 to 1.6 GB) before it was refused, as its
# size was checked only once it was built, in C code the render clock cannot interrupt.
TOO_BIG_TO_BUILD = ["a printf width from the arguments",
                    "a printf width after a key with parentheses",
                    "a printf precision from the arguments", "a format width from a nested field",
                    "a format width from a numbered nested field",
                    "a format_map precision from a nested field",
                    "a replace with a long replacement", "a str.replace with a long replacement",
                    "a wide indent of many lines", "a wide indent of lines ended by CR",
                    "a wide expandtabs of many tabs", "a string doubled with ~",
                    "a join with a long separator", "a str.join with a long separator",
                    "a wordwrap with a long wrapstring", "a sum of lists",
                    "a translate with a long replacement"]


@pytest.mark.timeout(60)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's VmHWM")
@pytest.mark.parametrize("case", TOO_BIG_TO_BUILD)
def test_a_value_too_big_to_build_is_refused_before_it_is_built(config, case):
    body, _, reason = LIMITS[case]
    child = subprocess.run([sys.executable, "-c", RENDER_IN_A_CHILD, str(config.path), body],
                           capture_output=True, text=True, timeout=50,
                           env={"PATH": os.environ["PATH"], "PYTHONPATH": str(PROJECT)})
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout)
    assert report["problems"] == [f"--message:1: cannot render for account 'hackney-x': {reason}"]
    assert report["seconds"] < 0.5
    assert report["peak_kib"] < 300 * 1024


# Single steps in C code that build a big value before anything can measure it, each of which
# took from 0.5 to 3 GB (and up to ten seconds) until the render's memory was capped.
BUILT_IN_ONE_STEP = [
    "{{ range(2000)|map('center', 999999)|join('')|length }}",
    "{{ (range(1000)|map('center', 999999)|list)|length }}",
    "{% set s = 'x'|center(999999) %}{{ ([s] * 99999)|map('upper')|list|length }}",
    "{% set s = 'x'|center(999999) %}{{ ([s] * 99999)|string|length }}",
    "{% set s = 'x'|center(999999) %}{{ 'v' ~ [s] * 999 }}",
    "{{ (range(99999)|list)|tojson(indent=999999)|length }}",
]


@pytest.mark.timeout(60)
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's VmHWM")
@pytest.mark.parametrize("body", BUILT_IN_ONE_STEP)
def test_a_render_cannot_take_more_than_its_share_of_memory(config, body):
    child = subprocess.run([sys.executable, "-c", RENDER_IN_A_CHILD, str(config.path), body],
                           capture_output=True, text=True, timeout=50,
                           env={"PATH": os.environ["PATH"], "PYTHONPATH": str(PROJECT)})
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout)
    assert report["problems"] == ["--message:1: cannot render for account 'hackney-x': it needs "
                                  "more than 200 MB of memory, the limit for one render"]
    assert report["seconds"] < 3
    assert report["peak_kib"] < 300 * 1024


def test_the_memory_cap_moves_up_with_a_long_run_and_is_lifted_after():
    import resource

    from metpost.memory_cap import REBASE_EVERY, MemoryCap

    found = resource.getrlimit(resource.RLIMIT_AS)
    cap = MemoryCap(64 << 20)
    kept = []
    with cap:
        capped = resource.getrlimit(resource.RLIMIT_AS)[0]
        assert capped != resource.RLIM_INFINITY
        with pytest.raises(MemoryError), cap:
            bytearray(128 << 20)
        # A long run keeps what it builds, 40 MB for each stretch between two readings: far
        # more than the headroom in all, never more than it at once.
        for _ in range(4):
            for _ in range(REBASE_EVERY):
                with cap:
                    pass
            kept.append(bytearray(40 << 20))
        assert resource.getrlimit(resource.RLIMIT_AS)[0] > capped
    assert resource.getrlimit(resource.RLIMIT_AS) == found


@pytest.mark.parametrize("body", ["{{ text + text }}", "{{ text ~ text }}", "{{ items + items }}",
                                  "{{ items * 2 }}"])
def test_too_long_a_concatenation_or_repetition_is_refused_unbuilt(tmp_path, body):
    # The operands are built beforehand: the render itself allocates next to nothing, where the
    # result alone would take 2 MB (text) or 16 MB (items).
    template = message_environment(tmp_path).from_string(body)
    context = {"text": "x" * 999_999, "items": [0] * 999_999}
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceeded, match="is over the limit of 1,000,000"):
            template.render(context)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000


# Honest uses of everything the sandbox measures beforehand, and mistakes in them: each renders,
# or fails, exactly as in Jinja's own sandbox.
HONEST_USES = [
    "{{ '%-*s|' % (6, name) }}", "{{ '%.*f' % (2, 3.14159) }}", "{{ '%*.*f'|format(8, 3, 2.5) }}",
    "{{ '%(a)s %(b)05d %%'|format(a=name, b=7) }}", "{{ '%s and %s' % ('x', 'y') }}",
    "{{ '%d%%' % 5 }}", "{{ '{:>{w}}|'.format(name, w=10) }}",
    "{{ '{:{}}|{}'.format(name, 9, 'z') }}",
    "{{ '{0:{1}.{2}f}'.format(3.14159, 8, 3) }}", "{{ '{:%H:%M}'.format(now) }}",
    "{{ '{n:^{w}}'.format_map({'n': name, 'w': 11}) }}", "{{ '{:,} {{}}'.format(1234567) }}",
    "{{ name|replace('a', '4') }}", "{{ name|replace('', '-') }}",
    "{{ name|replace('a', 'A', 1) }}",
    "{{ name.replace('H', 'h') }}", "{{ 'a\\nb\\n\\nc'|indent(2) }}",
    "{{ 'a\\r\\nb'|indent('> ', first=true, blank=true) }}", "{{ 'a\\tb'.expandtabs(4) }}",
    "{{ name ~ ' ' ~ 3 ~ ' ' ~ items }}",
    "{{ name + '!' }} {{ (items + ['c'])|join }} {{ ((1,) + (2,))|sum }}",
    "{% autoescape true %}{{ '<b>' ~ name }} {{ '<i>'|safe ~ '&' }}{% endautoescape %}",
]
MISTAKES = [
    "{{ '{:>{w}}'.format('x') }}", "{{ '{:>{}}'.format('x') }}", "{{ '%*d' % ('x', 1) }}",
    "{{ '{0:{}}'.format(1, 2) }}", "{{ '{:{w:{x}}}'.format(1, w=2, x=3) }}",
    "{{ '{:>{w}}'.format_map({'w': 3}, 1) }}", "{{ '%(a)*d' % {'a': 1} }}",
    "{{ 'ab'|replace('a') }}", "{{ 5|indent(2) }}", "{{ 'a'.replace('a') }}", "{{ 'a' + 1 }}",
]


def test_what_is_measured_beforehand_renders_as_in_jinja(tmp_path):
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    ours = message_environment(tmp_path)
    jinjas = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined)
    context = {"name": "Hackney", "now": NOW, "items": ["a", "b"]}

    def outcome(env: Any, body: str) -> tuple[str, str]:
        try:
            return "text", env.from_string(body).render(context)
        except Exception as error:
            return "error", f"{type(error).__name__}: {error}"

    for kind, bodies in (("text", HONEST_USES), ("error", MISTAKES)):
        for body in bodies:
            ours_did = outcome(ours, body)
            assert ours_did == outcome(jinjas, body), body
            assert ours_did[0] == kind, (body, ours_did)


# -- 3. include, import and extends, inside templates/ only -----------------------------------

def test_include_import_and_extends_work_inside_the_folder(sandbox):
    sandbox.write("parts/footer.j2", "---\ndescription: the shared footer\n---\n"
                                     "Updates: {{ website }}")
    sandbox.write("parts/macros.j2", "{% macro sign(name) %}-- {{ name }} police{% endmacro %}")
    sandbox.write("parts/base.j2",
                  "{% block body %}{% endblock %}\n{% include 'parts/footer.j2' %}")
    sandbox.write("appeal.j2", "{% extends 'parts/base.j2' %}{% import 'parts/macros.j2' as m %}"
                               "{% block body %}{{ borough }}: call 101. "
                               "{{ m.sign(borough) }}{% endblock %}")
    config = sandbox.config.read_text().replace(
        '    borough: Hackney\n    api_url',
        '    borough: Hackney\n    vars: {website: "https://example.org"}\n    api_url', 1)
    sandbox.config.write_text(config)
    outcome = sandbox.send("appeal", "--dry-run", "--json")
    assert outcome.exit_code == 0, outcome.stderr
    [post] = json.loads(outcome.stdout)["posts"]
    assert post["text"] == "Hackney: call 101. -- Hackney police\nUpdates: https://example.org"


@pytest.fixture
def outside(tmp_path):
    """A file beside the project, as a secret would be."""
    path = tmp_path / "outside.txt"
    path.write_text(SECRET)
    return path


REFERENCES = {
    "include ..": ("{% include '../accounts.yaml' %}", "../accounts.yaml",
                   "'..' leads out of {templates}; name a file in it by its path relative to it"),
    "extends ..": ("{% extends 'parts/../../accounts.yaml' %}", "parts/../../accounts.yaml",
                   "'..' leads out of {templates}; name a file in it by its path relative to it"),
    "import absolute": ("{% import '{outside}' as m %}", "{outside}",
                        "an absolute path; name a file in {templates} by its path relative to it"),
    "include a link out": ("{% include 'link.j2' %}", "link.j2",
                           "it links to a file outside {templates}; templates must be files "
                           "inside it"),
    "from-import a link out": ("{% from 'link.j2' import x %}", "link.j2",
                               "it links to a file outside {templates}; templates must be files "
                               "inside it"),
    "include a missing file": ("{% include 'parts/nope.j2' %}", "parts/nope.j2",
                               "no such file in {templates}"),
}


def reference_case(sandbox, outside, case):
    body, name, reason = REFERENCES[case]
    (sandbox.templates / "link.j2").symlink_to(outside)
    body = body.replace("{outside}", str(outside))
    path = sandbox.write("hostile.j2", "Hello {{ borough }}\n" + body + "\n")
    name = name.replace("{outside}", str(outside))
    reason = reason.replace("{templates}", str(sandbox.templates))
    return path, f"{path}:2: cannot load '{name}': {reason}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(REFERENCES))
def test_references_outside_the_folder_or_missing_are_one_line(sandbox, outside, case, mode):
    _, line = reference_case(sandbox, outside, case)
    outcome = sandbox.send("hostile", mode)
    assert_refused(outcome, line)
    assert sandbox.nothing_sent


@pytest.mark.parametrize("case", list(REFERENCES))
def test_check_reports_bad_references_without_rendering(sandbox, outside, case):
    path, line = reference_case(sandbox, outside, case)
    # Rendering would stop at the division, before the reference; check must not render.
    path.write_text(path.read_text().replace("\n", "\n{{ 1 / 0 }}", 1))
    outcome = run(["check", "--config", str(sandbox.config)], env=SECRET_ENV)
    assert outcome.exit_code == 2
    assert SECRET not in outcome.stdout + outcome.stderr
    assert outcome.error_lines == [
        f"metpost: error: {line}",
        # link.j2 is also a template by its name, and refused as one.
        f"metpost: error: template 'link': {sandbox.templates / 'link.j2'} links to a file "
        f"outside {sandbox.templates}; put the template itself in that folder"]


def test_check_follows_references_into_included_files(sandbox):
    sandbox.write("parts/a.j2", "---\ndescription: a part\n---\n{% include 'parts/b.j2' %}")
    sandbox.write("parts/b.j2", "{% include 'parts/missing.j2' %}\n{% if %}")
    sandbox.write("parts/c.j2", "{% include ['parts/gone.j2', 'parts/a.j2'] %}"
                                "{% include 'parts/absent.j2' ignore missing %}")
    sandbox.write("main.j2", "{% include 'parts/a.j2' %}\n{% include 'parts/c.j2' %}"
                             "{% include name %}")
    outcome = run(["check", "--config", str(sandbox.config)])
    assert outcome.exit_code == 2
    # main.j2's {{ name }} is also reported: nothing can fill it.
    unfillable = (f"metpost: error: {sandbox.templates / 'main.j2'}: {{{{ name }}}} is not a "
                  "variable any account, borough, personality or --var provides; pass it with "
                  "--var name=VALUE or add it to the accounts' vars")
    assert outcome.error_lines == [
        f"metpost: error: {sandbox.templates / 'parts/b.j2'}:2: template syntax error: Expected "
        "an expression, got 'end of statement block'", unfillable]
    sandbox.write("parts/b.j2", "{% include 'parts/missing.j2' %}")
    outcome = run(["check", "--config", str(sandbox.config)])
    assert outcome.error_lines == [
        f"metpost: error: {sandbox.templates / 'parts/b.j2'}:1: cannot load 'parts/missing.j2': "
        f"no such file in {sandbox.templates}", unfillable]


@pytest.mark.parametrize("mode", MODES)
def test_a_name_computed_at_render_time_is_checked_too(sandbox, mode):
    path = sandbox.write("dynamic.j2", "---\nvars: {part: which part}\n---\n"
                                       "{% include part %}")
    outcome = sandbox.send("dynamic", mode, "--var", "part=../accounts.yaml")
    assert_refused(outcome, f"{path}:4: cannot load '../accounts.yaml': '..' leads out of "
                            f"{sandbox.templates}; name a file in it by its path relative to it")
    assert sandbox.nothing_sent


# -- 4. --template NAME stays inside templates/ -------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["../accounts", "/etc/passwd", "parts/footer",
                                  "hostile.facebook", "..", "a b", ""])
def test_template_name_must_be_a_plain_name(sandbox, name, mode):
    sandbox.write("hostile.j2", "Hello\n")
    sandbox.write("hostile.facebook.j2", "Hello\n")
    sandbox.write("parts/footer.j2", "Hello\n")
    outcome = sandbox.send(name, mode)
    if name == "":  # Click sees no --template at all
        assert outcome.exit_code == 2 and sandbox.nothing_sent
        return
    assert_refused(outcome, f"template name '{name}' is not allowed: give the name of a file in "
                            f"{sandbox.templates} without its folder or '.j2' (letters, digits, "
                            "'-' and '_' only, e.g. --template rumour-control); see metpost "
                            "templates list")
    assert sandbox.nothing_sent


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("link", ["evil.j2", "evil.facebook.j2"])
def test_a_template_that_links_outside_is_refused(sandbox, outside, link, mode):
    if link != "evil.j2":
        sandbox.write("evil.j2", "Hello {{ borough }}\n")
    (sandbox.templates / link).symlink_to(outside)
    outcome = sandbox.send("evil", mode)
    assert_refused(outcome, f"template 'evil': {sandbox.templates / link} links to a file "
                            f"outside {sandbox.templates}; put the template itself in that folder")
    assert sandbox.nothing_sent


def test_a_link_within_the_folder_is_fine(sandbox):
    sandbox.write("real.j2", "Hello {{ borough }}\n")
    (sandbox.templates / "alias.j2").symlink_to(sandbox.templates / "real.j2")
    outcome = sandbox.send("alias", "--dry-run", "--json")
    assert outcome.exit_code == 0, outcome.stderr
    assert json.loads(outcome.stdout)["posts"][0]["text"] == "Hello Hackney"


# -- the Renderer and its clock, in-process ---------------------------------------------------

CONFIG = """
boroughs:
  - {name: Hackney, bcu: CE}
accounts:
  - name: hackney-x
    platform: x
    borough: Hackney
    credentials: {consumer_key: "${CK}", consumer_secret: "${CS}", access_token: "${AT}",
                  access_token_secret: "${ATS}"}
"""


@pytest.fixture
def config(project):
    return load_config(project(CONFIG))


def test_renderer_errors_are_template_errors_of_one_line(config):
    account = config.accounts[0]
    for body in ("{{ [1, 2].pop() }}", "{{ none.x }}", "{{ -'a' }}",
                 "{{ (1, 2) * 10 ** 7 }}", "{{ 'x' * 999999 + 'x' * 999999 }}",
                 "{{ [1] + [2] * 999999 + [3] * 2 }}"):
        renderer = Renderer(config, inline_template(body), {}, NOW)
        with pytest.raises(TemplateError) as caught:
            renderer.render(account)
        [line] = caught.value.problems
        assert line.startswith("--message") and "\n" not in line, line


def test_included_files_are_read_and_compiled_once_per_run(config):
    part = config.templates_dir / "part.j2"
    part.write_text("first")
    renderer = Renderer(config, inline_template("{% include 'part.j2' %}"), {}, NOW)
    assert renderer.render(config.accounts[0]) == "first"
    part.write_text("second")
    assert renderer.render(config.accounts[0]) == "first"
    fresh = Renderer(config, inline_template("{% include 'part.j2' %}"), {}, NOW)
    assert fresh.render(config.accounts[0]) == "second"


def test_load_template_refuses_names_that_are_paths(config):
    for name in ("../x", "x/y", "x.y", ".", "~root"):
        with pytest.raises(TemplateError) as caught:
            load_template(config.templates_dir, name)
        assert caught.value.problems[0].startswith(f"template name '{name}' is not allowed")


def busy(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def test_clock_interrupts_in_the_main_thread():
    started = time.monotonic()
    with pytest.raises(RenderTimeout), RenderClock(0.05):
        busy(5)
    assert time.monotonic() - started < 1


def test_clock_does_nothing_in_other_threads():
    finished = []

    def work() -> None:
        with RenderClock(0.01):
            busy(0.1)
        finished.append(True)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert finished == [True]


class TheirAlarm:
    """Someone else's SIGALRM handler (pytest-timeout's, say): it notes when it fires."""

    def __init__(self) -> None:
        self.fired: list[float] = []

    def __call__(self, *_: object) -> None:
        self.fired.append(time.monotonic())


@pytest.fixture
def theirs():
    """Their handler installed; afterwards it, and any alarm pytest-timeout had set, put back."""
    handler = TheirAlarm()
    previous = signal.signal(signal.SIGALRM, handler)
    saved = signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield handler
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if saved[0]:
            signal.setitimer(signal.ITIMER_REAL, *saved)


def test_clock_keeps_an_alarm_someone_else_set(theirs):
    fired = theirs.fired
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    with RenderClock(5):
        busy(0.05)
    assert 0.1 < signal.getitimer(signal.ITIMER_REAL)[0] < 0.3
    assert signal.getsignal(signal.SIGALRM) is theirs and not fired
    started = time.monotonic()
    with RenderClock(5):  # the other alarm falls due inside: it goes to its own handler
        busy(0.5)
    assert fired and fired[0] - started < 0.3
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0


def test_a_held_clock_times_each_render_and_nothing_between():
    clock = RenderClock(0.05)
    previous = signal.getsignal(signal.SIGALRM)
    outer = signal.getitimer(signal.ITIMER_REAL)[0]  # pytest-timeout's alarm, if it set one
    began = time.monotonic()
    with clock.held():
        with clock:
            busy(0.01)  # in time
        busy(0.15)  # between renders the clock's own alarm interrupts nothing,
        signal.raise_signal(signal.SIGALRM)  # not even one delivered late
        started = time.monotonic()
        with pytest.raises(RenderTimeout), clock:
            busy(5)
        assert time.monotonic() - started < 1
        with clock:  # wound afresh: a full 0.05 s again
            busy(0.03)
        assert signal.getsignal(signal.SIGALRM) is not previous
    assert signal.getsignal(signal.SIGALRM) is previous
    left = signal.getitimer(signal.ITIMER_REAL)[0]
    assert (abs(left - (outer - (time.monotonic() - began))) < 0.1) if outer else left == 0


def test_a_held_clock_keeps_an_alarm_someone_else_set(theirs):
    fired = theirs.fired
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    started = time.monotonic()
    clock = RenderClock(0.05)  # each render's limit falls before their alarm
    with clock.held():
        with clock:
            busy(0.01)
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] < 0.2  # theirs, still set
        busy(0.25)  # it falls due between renders: to its own handler
        assert fired and 0.15 < fired[0] - started < 0.3
        with clock:
            busy(0.01)
    assert signal.getsignal(signal.SIGALRM) is theirs
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0 and len(fired) == 1
    signal.setitimer(signal.ITIMER_REAL, 0.1)  # one due before the first render
    with clock.held():
        busy(0.15)
        assert len(fired) == 2
        with clock:
            busy(0.01)
    signal.setitimer(signal.ITIMER_REAL, 0.3)  # and one due after the renders are over
    with clock.held(), clock:
        busy(0.01)
    assert 0.1 < signal.getitimer(signal.ITIMER_REAL)[0] < 0.3
