"""Hostile and treacherous accounts.yaml files: one clear line each, exit 2, within a second.

Every case runs twice: with libyaml (the fast reader) and as if PyYAML had been built without it
(the pure-Python reader), through the CLI as a user would meet it.
"""

from __future__ import annotations

import json
import time

import pytest
import yaml

from metpost import yamlsource
from metpost.config import load_config
from metpost.errors import ConfigError
from tests.conftest import PROJECT, run

COMMANDS = {
    "check": ["check"],
    "send --dry-run": ["send", "--all", "--message", "hi", "--dry-run"],
}


@pytest.fixture(params=["libyaml", "pure-python"])
def reader(request, monkeypatch):
    """Which YAML reader metpost uses: libyaml's when PyYAML has it, else the pure-Python one."""
    if request.param == "libyaml":
        if not yaml.__with_libyaml__:
            pytest.skip("PyYAML was built without libyaml")
    else:
        monkeypatch.setattr(yaml, "__with_libyaml__", False)
    return request.param


X_CREDENTIALS = ("{consumer_key: '${CK}', consumer_secret: '${CS}', access_token: '${AT}', "
                 "access_token_secret: '${ATS}'}")

# A "billion laughs": 9 levels of 9 aliases each, 430 bytes that would expand to 10^9 values.
ALIAS_BOMB = """\
accounts:
  - name: hackney-x
    platform: x
    vars:
      a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]
      b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
      c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
      d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
      e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
      f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
      g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
      h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
      i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""

# The same through merge keys, which PyYAML expands by copying (key, value) pairs.
MERGE_BOMB = """\
accounts:
  - &a {name: a, platform: x, vars: {k1: a, k2: b, k3: c, k4: d, k5: e, k6: f, k7: g}}
  - &b {<<: [*a,*a,*a,*a,*a,*a,*a,*a,*a]}
  - &c {<<: [*b,*b,*b,*b,*b,*b,*b,*b,*b]}
  - &d {<<: [*c,*c,*c,*c,*c,*c,*c,*c,*c]}
  - &e {<<: [*d,*d,*d,*d,*d,*d,*d,*d,*d]}
  - &f {<<: [*e,*e,*e,*e,*e,*e,*e,*e,*e]}
  - &g {<<: [*f,*f,*f,*f,*f,*f,*f,*f,*f]}
  - &h {<<: [*g,*g,*g,*g,*g,*g,*g,*g,*g]}
"""

EXPANDS_TOO_FAR = ("aliases expand too far: with *{alias} the document's aliases would repeat "
                   "more than 2,000,000 values (each alias copies everything under its anchor, "
                   "nested aliases included); write the values out or use fewer, shallower "
                   "aliases")

RECURSIVE = ("recursive alias: *{alias} is inside the value that &{alias} names (line {line}), "
             "so it never ends; point the alias at something outside that value")

DUPLICATE = "duplicate key '{key}' (first at line {line}); a key may appear once in a mapping: " \
            "keep one of them"

TOO_DEEP = ("nested more than 100 levels deep; a config needs only a few, so look for "
            "brackets or indentation gone astray")

CASES = {
    "alias bomb": (ALIAS_BOMB, [f"11: {EXPANDS_TOO_FAR.format(alias='f')}"]),
    "merge-key bomb": (MERGE_BOMB, [f"8: {EXPANDS_TOO_FAR.format(alias='f')}"]),
    "recursive alias in a list": (
        "accounts: &all [*all]\n", [f"1: {RECURSIVE.format(alias='all', line=1)}"]),
    "recursive alias in a mapping": (
        "accounts:\n  - &me\n    name: hackney-x\n    platform: x\n    vars: *me\n",
        [f"5: {RECURSIVE.format(alias='me', line=2)}"]),
    "recursive merge": (
        "accounts:\n  - &me {name: hackney-x, platform: x, <<: *me}\n",
        [f"2: {RECURSIVE.format(alias='me', line=2)}"]),
    "nested far too deep": (
        "accounts: " + "[" * 500 + "]" * 500 + "\n", [f"1: {TOO_DEEP}"]),
    "nested deeper than libyaml allows": (
        "accounts:\n" + "".join(f"{'  ' * level}- k:\n" for level in range(1, 2000)),
        [f"51: {TOO_DEEP}"]),
    "duplicate keys": (
        "boroughs:\n"
        "  - {name: Hackney, bcu: CE, name: Camden}\n"
        "accounts:\n"
        "  - name: hackney-x\n"
        "    platform: x\n"
        "    handle: '@MPSHackney'\n"
        "    handle: '@MPSCamden'\n"
        f"    credentials: {X_CREDENTIALS}\n"
        "boroughs: []\n",
        [f"2: boroughs[0].name: {DUPLICATE.format(key='name', line=2)}",
         f"7: accounts[0].handle: {DUPLICATE.format(key='handle', line=6)}",
         f"9: boroughs: {DUPLICATE.format(key='boroughs', line=1)}"]),
    "keys spelt differently that YAML reads as one": (
        "accounts:\n"
        "  - name: hackney-x\n"
        "    platform: x\n"
        "    vars:\n"
        "      yes: shown\n"
        "      true: hidden\n",
        [f"6: accounts[0].vars.true: {DUPLICATE.format(key='true', line=5)}"]),
    "two merge keys in one mapping": (
        "accounts:\n"
        "  - &x {name: hackney-x, platform: x}\n"
        "  - <<: *x\n"
        "    <<: *x\n",
        ["4: accounts[1].<<: duplicate key '<<' (first at line 3); merge several mappings with "
         "one key, as <<: [*first, *second]"]),
    "a newline after an account name, a URL and a reference": (
        "accounts:\n"
        '  - name: "hackney-x\\n"\n'
        "    platform: x\n"
        '    api_url: "http://127.0.0.1:8080\\n"\n'
        '    credentials: {consumer_key: "${CK}\\n", consumer_secret: "${CS}", '
        'access_token: "${AT}", access_token_secret: "${ATS}"}\n',
        ["2: accounts[0].name: 'hackney-x\\n' is not a usable name: use lowercase letters, "
         "digits and dashes, like hackney-x",
         "4: accounts[0].api_url: 'http://127.0.0.1:8080\\n' is not an http(s) URL like "
         "http://127.0.0.1:8080",
         "5: accounts[0].credentials.consumer_key: secrets must not be written in the config; "
         "store it in an environment variable and write ${CONSUMER_KEY} (a ${VAR} reference) "
         "here"]),
    "URLs that cannot be read, or that a request path cannot follow": (
        "accounts:\n"
        "  - name: hackney-x\n"
        "    platform: x\n"
        "    api_url: 'http://[::1:8080'\n"
        f"    credentials: {X_CREDENTIALS}\n"
        "  - name: camden-x\n"
        "    platform: x\n"
        "    api_url: 'http://127.0.0.1:port/2'\n"
        f"    credentials: {X_CREDENTIALS}\n"
        "  - name: brent-x\n"
        "    platform: x\n"
        "    api_url: 'http://127.0.0.1:8080/x?via=proxy'\n"
        f"    credentials: {X_CREDENTIALS}\n"
        "  - name: hackney-hook\n"
        "    platform: webhook\n"
        "    url: 'https://hooks.example:99999/in?team=comms'\n",
        ["4: accounts[0].api_url: 'http://[::1:8080' has a host that cannot be read (an "
         "unclosed [ or a bad address inside [ ]); write a base URL like http://127.0.0.1:8080",
         "8: accounts[1].api_url: 'http://127.0.0.1:port/2' has a port that is not a number "
         "from 1 to 65535; write a base URL like http://127.0.0.1:8080",
         "12: accounts[2].api_url: 'http://127.0.0.1:8080/x?via=proxy' has a ? query or # "
         "fragment, which the request paths would be appended to; write a base URL like "
         "http://127.0.0.1:8080",
         "16: accounts[3].url: 'https://hooks.example:99999/in?team=comms' has a port that is "
         "not a number from 1 to 65535; write an address like https://example.org/hook"]),
    "merging what is not a mapping": (
        "accounts:\n  - {<<: ~, name: hackney-x}\n",
        ["2: invalid YAML: expected a mapping or list of mappings for merging, but found scalar"]),
    "a date that is not one": (
        "accounts:\n  - name: hackney-facebook\n    platform: facebook\n    page_id: 2026-02-30\n",
        ["4: this value looks like a date but is not one (day is out of range for month); "
         "quote it to keep it as text"]),
    # YAML reads each \\u escape as a character of its own: a JSON-style pair is two halves.
    "half a character": (
        'boroughs:\n  - {name: "Lone\\ud800", bcu: CE}\naccounts:\n  - name: hackney-x\n'
        '    platform: x\n    vars: {smile: "Stay safe \\ud83d\\ude00", "k\\udfff": v}\n',
        ["2: boroughs[0].name: holds half a character (\\ud800): write the character itself, "
         "or one \\U escape of eight digits, as \\U0001F600",
         "6: accounts[0].vars.smile: holds half a character (\\ud83d): write the character "
         "itself, or one \\U escape of eight digits, as \\U0001F600",
         "6: accounts[0].vars.k\\udfff: holds half a character (\\udfff): write the "
         "character itself, or one \\U escape of eight digits, as \\U0001F600"]),
    "a control character from an escape": (
        'accounts:\n  - name: hackney-facebook\n    platform: facebook\n    page_id: "1"\n'
        '    handle: "@MPS\\eHackney"\n    credentials: {page_access_token: "${T}"}\n',
        ["5: accounts[0].handle: holds a control character (U+001B), which a terminal would "
         "act on and no platform shows; remove it"]),
    "a number too long to read": (
        "accounts:\n  - name: hackney-facebook\n    platform: facebook\n    page_id: "
        + "9" * 5000 + "\n",
        ["4: this value looks like a number but is not one (too many digits); quote it to keep "
         "it as text"]),
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("case", list(CASES))
def test_hostile_file_is_one_clear_line_each_exit_2_within_a_second(tmp_path, reader, case,
                                                                     command):
    text, expected = CASES[case]
    config = tmp_path / "accounts.yaml"
    config.write_text(text, encoding="utf-8")
    started = time.perf_counter()
    outcome = run([*COMMANDS[command], "--config", str(config)])
    elapsed = time.perf_counter() - started
    assert outcome.exit_code == 2, outcome.stdout + outcome.stderr
    assert "Traceback" not in outcome.stdout + outcome.stderr
    assert outcome.error_lines == [f"metpost: error: {config}:{line}" for line in expected]
    assert elapsed < 1.0, f"{case}: {elapsed:.2f} s"


MERGED = f"""\
boroughs:
  - {{name: Hackney, bcu: CE}}
accounts:
  - &hackney-x
    name: hackney-x
    platform: x
    borough: Hackney
    tags: [borough, bcu-ce]
    vars: &hackney-vars {{website: "https://example.org/hackney", area: Hackney}}
    credentials: {X_CREDENTIALS}
  - <<: *hackney-x
    name: dalston-x
    vars: {{<<: [{{area: Dalston}}, *hackney-vars]}}
  - <<: [{{name: first-wins, handle: "@First"}}, *hackney-x]
"""


def test_merge_keys_work_as_yaml_defines_them(tmp_path, reader):
    config = tmp_path / "accounts.yaml"
    config.write_text(MERGED, encoding="utf-8")
    hackney, dalston, first = load_config(config).accounts
    assert dalston.name == "dalston-x"  # the mapping's own key wins over a merged one
    assert (dalston.platform, dalston.borough, dalston.tags) == ("x", "Hackney",
                                                                 ("borough", "bcu-ce"))
    # In <<: [a, b] a key of a wins over b's (PyYAML 6.0.4 alone would let b win).
    assert dalston.vars == {"area": "Dalston", "website": "https://example.org/hackney"}
    assert (first.name, first.handle) == ("first-wins", "@First")
    assert dalston.credentials == hackney.credentials
    assert [account.line for account in (hackney, dalston, first)] == [4, 11, 14]


def test_a_mistake_in_a_merged_mapping_is_reported_where_it_is_written(tmp_path, reader):
    config = tmp_path / "accounts.yaml"
    config.write_text(MERGED.replace("borough: Hackney", "borough: Hackny"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    unknown = ("borough: unknown borough 'Hackny' — did you mean 'Hackney'? (add it under "
               "boroughs: or fix the spelling)")
    assert caught.value.problems == tuple(
        f"{config}:7: accounts[{index}].{unknown}" for index in range(3))


def test_a_mistake_overriding_a_merged_key_is_reported_at_the_override(tmp_path, reader):
    config = tmp_path / "accounts.yaml"
    config.write_text(MERGED.replace("    name: dalston-x\n", "    name: dalston-x\n"
                                     "    platform: facebok\n"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert caught.value.problems == (
        f"{config}:13: accounts[1].platform: unknown platform 'facebok' — did you mean "
        "'facebook'? (known: bluesky, facebook, feed, mastodon, webhook, x)",)


def test_aliases_are_fine_in_a_10000_account_config():
    """The alias limit leaves room for every account to merge defaults and share many vars."""
    if not yaml.__with_libyaml__:
        pytest.skip("slow without libyaml")
    common = ", ".join(f"v{n}: value {n}" for n in range(40))
    lines = ["boroughs:", "  - {name: Hackney, bcu: CE}", "accounts:",
             "  - &defaults", "    name: account-0", "    platform: x", "    borough: Hackney",
             "    tags: [borough, bcu-ce, central]", f"    vars: &common {{{common}}}",
             f"    credentials: {X_CREDENTIALS}"]
    for number in range(1, 10_000):
        lines += ["  - <<: *defaults", f"    name: account-{number}", "    vars: *common"]
    document = yamlsource.parse_yaml("\n".join(lines) + "\n")
    accounts = document.data["accounts"]
    assert len(accounts) == 10_000
    assert accounts[-1]["vars"]["v39"] == "value 39"
    assert accounts[-1]["platform"] == "x"
    assert document.line_of(("accounts", 9_999)) == 11 + 3 * 9_998


# -- the fast reader and the exact reader agree --------------------------------------------

DOCUMENTS = {
    "shipped example": (PROJECT / "accounts.yaml").read_text(encoding="utf-8"),
    "merged": MERGED,
    "scalars": "a: 1\nb: [x, 'y', {c: ~, d: 2026-01-02, e: yes, f: 1.5, g: 0x1f, h: ''}]\n"
               "i: !!str 12\nj: !!binary aGk=\nk: |\n  block\n  text\nl:\n",
    "nested aliases": "a: &a {x: [1, 2]}\nb: [*a, *a, {<<: *a, y: *a}]\n= : equals\n",
    "complex merges": "a: &a {k: a, ka: 1}\nb: &b {<<: *a, k: b, kb: 2}\n"
                      "c: {<<: [*b, {k: inline, ki: 3}, *a]}\nd:\n  - <<: *b\n    k: own\n",
    "a scalar": "just text\n",
    "empty": "",
}


def paths_in(data, path=()):
    """Every path into ``data``, and one that goes nowhere below each."""
    yield path
    yield (*path, "no-such-key")
    if isinstance(data, dict):
        for key, value in data.items():
            yield from paths_in(value, (*path, key))
    elif isinstance(data, list):
        yield (*path, len(data))
        for index, value in enumerate(data):
            yield from paths_in(value, (*path, index))


@pytest.mark.parametrize("name", list(DOCUMENTS))
def test_fast_and_exact_readers_give_the_same_data_and_lines(name, monkeypatch):
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml")
    text = DOCUMENTS[name]
    fast = yamlsource.parse_yaml(text, line_offset=2)
    monkeypatch.setattr(yaml, "__with_libyaml__", False)
    exact = yamlsource.parse_yaml(text, line_offset=2)
    assert fast.data == exact.data
    assert repr(fast.data) == repr(exact.data)  # the same key order too
    for path in paths_in(exact.data):
        assert fast.line_of(path) == exact.line_of(path), path


def test_account_lines_come_from_the_fast_reader_alone(shipped_config):
    """A valid config never needs the exact reader: list items keep their lines."""
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml")
    document = yamlsource.read_yaml(shipped_config)
    lines = [document.line_of(("accounts", index))
             for index in range(len(document.data["accounts"]))]
    assert lines[:3] == [72, 82, 92]
    assert document._lines.exact is None


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_it_was(enabled):
    import gc

    was_enabled = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        yamlsource.parse_yaml(MERGED)
        with pytest.raises(yamlsource.YamlSyntaxError):
            yamlsource.parse_yaml(ALIAS_BOMB)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was_enabled else gc.disable)()


def test_one_line_escapes_what_would_break_a_line():
    assert yamlsource.one_line("hackney-x") == "hackney-x"
    assert yamlsource.one_line("a\nb\rc\td\x85e\u2028f") == "a\\nb\\rc\\td\\x85e\\u2028f"
    assert yamlsource.one_line("Höxter ✓") == "Höxter ✓"


def test_template_front_matter_is_guarded_too(tmp_path):
    from metpost.errors import TemplateError
    from metpost.render import read_template_file

    template = tmp_path / "bomb.j2"
    template.write_text("---\ndescription: a\ndescription: b\n---\nhi\n", encoding="utf-8")
    with pytest.raises(TemplateError) as caught:
        read_template_file(template)
    assert caught.value.problems == (
        f"{template}:3: front matter: {DUPLICATE.format(key='description', line=2)}",)


@pytest.mark.parametrize("page_id", ["\u0661\u0662\u0663", "\uff11\uff12\uff13", "123\n"])
def test_a_page_id_must_be_ascii_digits(tmp_path, page_id):
    config = tmp_path / "accounts.yaml"
    config.write_text(
        "accounts:\n"
        "  - name: hackney-facebook\n"
        "    platform: facebook\n"
        f"    page_id: {json.dumps(page_id)}\n"
        "    credentials: {page_access_token: '${T}'}\n", encoding="utf-8")
    outcome = run(["check", "--config", str(config)])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [
        f"metpost: error: {config}:4: accounts[0].page_id: must be the page's numeric id, like "
        '"123456789"']
