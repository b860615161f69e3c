"""accounts.yaml validation: every problem at once, each with file, line, field and a fix."""

from __future__ import annotations

import pytest

from metpost.config import load_config
from metpost.errors import ConfigError

X_CREDS = ('{consumer_key: "${CK}", consumer_secret: "${CS}", access_token: "${AT}", '
           'access_token_secret: "${ATS}"}')

GOOD = f"""
boroughs:
  - {{name: Hackney, bcu: CE}}
personalities:
  on-the-street: {{display: "MPS On The Street", signature: "Today: PC Patel"}}
accounts:
  - name: hackney-x
    platform: x
    handle: "@MPSHackney"
    borough: Hackney
    tags: [borough, bcu-ce]
    vars: {{website: "https://example.org/hackney"}}
    credentials: {X_CREDS}
  - name: hackney-facebook
    platform: facebook
    page_id: "123456789"
    borough: hackney
    personality: on-the-street
    credentials: {{page_access_token: "${{FB}}"}}
"""


def problems_of(project, text: str) -> list[str]:
    path = project(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    prefix = f"{path}:"
    for problem in caught.value.problems:
        assert problem.startswith(prefix), problem
    return [problem[len(prefix):] for problem in caught.value.problems]


def test_good_config_loads(project):
    config = load_config(project(GOOD))
    assert [a.name for a in config.accounts] == ["hackney-x", "hackney-facebook"]
    x, facebook = config.accounts
    assert x.credentials == {"consumer_key": "CK", "consumer_secret": "CS",
                             "access_token": "AT", "access_token_secret": "ATS"}
    assert x.tags == ("borough", "bcu-ce")
    assert x.vars == {"website": "https://example.org/hackney"}
    assert facebook.borough == "Hackney"  # case-insensitive, stored as spelt in boroughs
    assert facebook.settings == {"page_id": "123456789"}
    assert facebook.line == 13
    assert config.boroughs["Hackney"].bcu == "CE"
    assert config.templates_dir == project(GOOD).parent / "templates"


def test_shipped_config_is_the_met(shipped_config):
    config = load_config(shipped_config)
    assert len(config.boroughs) == 32
    assert len({b.bcu for b in config.boroughs.values()}) == 12
    assert {"Hackney", "Tower Hamlets", "Westminster", "Croydon"} <= set(config.boroughs)
    for borough in config.boroughs:
        platforms = {a.platform for a in config.accounts if a.borough == borough}
        assert platforms == {"x", "facebook"}, borough
    handles = {a.handle for a in config.accounts}
    assert {"@CO11MetPolice", "@MPSOnTheStreet"} <= handles
    names = [a.name for a in config.accounts]
    assert len(names) == len(set(names))


def test_every_problem_is_reported_at_once(project):
    text = GOOD.replace("platform: facebook", "platform: facebok").replace(
        "borough: Hackney\n    tags", "borough: Hackny\n    tags")
    assert problems_of(project, text) == [
        "9: accounts[0].borough: unknown borough 'Hackny' — did you mean 'Hackney'? "
        "(add it under boroughs: or fix the spelling)",
        "14: accounts[1].platform: unknown platform 'facebok' — did you mean 'facebook'? "
        "(known: bluesky, facebook, feed, mastodon, webhook, x)",
    ]


@pytest.mark.parametrize(("change", "expected"), [
    (("    handle:", "    handel:"),
     "8: accounts[0].handel: unknown key 'handel' — did you mean 'handle'?"),
    (('page_id: "123456789"', "page_id: 123456789"),
     '15: accounts[1].page_id: must be a string: quote it, as "123456789"'),
    (("tags: [borough, bcu-ce]", "tags: borough"),
     "10: accounts[0].tags: must be a list, not a string"),
    (("name: hackney-facebook", "name: hackney-x"),
     "13: accounts[1].name: duplicate account name 'hackney-x' (first at line 6); "
     "account names must be unique"),
    (("personality: on-the-street", "personality: on-the-stret"),
     "17: accounts[1].personality: unknown personality 'on-the-stret' — did you mean "
     "'on-the-street'? (add it under personalities: or fix the spelling)"),
    (('{page_access_token: "${FB}"}', "{page_access_token: EAAB-real-token-123}"),
     "18: accounts[1].credentials.page_access_token: secrets must not be written in the "
     "config; store it in an environment variable and write ${PAGE_ACCESS_TOKEN} "
     "(a ${VAR} reference) here"),
    ((' access_token_secret: "${ATS}"', ""),
     "12: accounts[0].credentials: missing credential 'access_token_secret' "
     "(write access_token_secret: ${ENV_VAR})"),
    (('    page_id: "123456789"\n', ""),
     "13: accounts[1]: missing required key 'page_id' for platform 'facebook'"),
    (("{name: Hackney, bcu: CE}", "{name: Hackney}"),
     "2: boroughs[0]: missing required key 'bcu'"),
    (("accounts:", "acounts:"),
     "5: acounts: unknown key 'acounts' — did you mean 'accounts'?"),
    (('handle: "@MPSHackney"', "handle: [a, b]"),
     "8: accounts[0].handle: must be a string, not a list"),
    (('page_id: "123456789"', 'page_id: "123456789"\n    graph_version: "24"'),
     "16: accounts[1].graph_version: '24' is not a Graph API version like v24.0"),
    (('page_id: "123456789"', 'page_id: "MPSHackney"'),
     '15: accounts[1].page_id: must be the page\'s numeric id, like "123456789"'),
    (("name: hackney-x", "name: Hackney X"),
     "6: accounts[0].name: 'Hackney X' is not a usable name: use lowercase letters, digits "
     "and dashes, like hackney-x"),
    # A preview must read as what goes out: no line break to forge a row, no direction
    # override to turn "@MPSyenkcaH" round into "@MPSHackney".
    (('handle: "@MPSHackney"', 'handle: "@MPS\\u202eyenkcaH"'),
     "8: accounts[0].handle: holds U+202E (a line break, tab or invisible direction mark), which "
     "no name has; write it on one line, plainly"),
    (('handle: "@MPSHackney"', 'handle: "@MPS\\r@Evil"'),
     "8: accounts[0].handle: holds U+000D (a line break, tab or invisible direction mark), which "
     "no name has; write it on one line, plainly"),
    (("{name: Hackney, bcu: CE}", '{name: "  Hackney ", bcu: CE}'),
     "2: boroughs[0].name: '  Hackney ' starts or ends with a space, which no name has; write "
     "'Hackney'"),
    (('handle: "@MPSHackney"', 'handle: "@MPSHackney "'),
     "8: accounts[0].handle: '@MPSHackney ' starts or ends with a space, which no name has; "
     "write '@MPSHackney'"),
    (("{name: Hackney, bcu: CE}", '{name: "Hack\\nney", bcu: CE}'),
     "2: boroughs[0].name: holds U+000A (a line break, tab or invisible direction mark), which "
     "no name has; write it on one line, plainly"),
    # A value left blank (YAML's null) is a mistake, not a value quietly dropped.
    (("tags: [borough, bcu-ce]", "tags: [null, bcu-ce]"),
     "10: accounts[0].tags[0]: must not be empty"),
    (('vars: {website: "https://example.org/hackney"}', "vars: {website: }"),
     "11: accounts[0].vars.website: must not be empty"),
    (('handle: "@MPSHackney"', 'handle: "@MPSHackney"\n    api_url: "http://u:pw-s3cret@h.ex"'),
     "9: accounts[0].api_url: holds a user name or password before its host, which must not be "
     "written in the config; give the platform's token in credentials: as ${VAR}, and the URL "
     "without it"),
    (("tags: [borough, bcu-ce]", 'tags: ["bor\\u200bough", bcu-ce]'),
     "10: accounts[0].tags[0]: holds U+200B (a line break, tab or invisible direction mark), "
     "which no name has; write it on one line, plainly"),
])
def test_each_kind_of_mistake(project, change, expected):
    text = GOOD.replace(*change, 1)
    assert text != GOOD
    assert expected in problems_of(project, text)


def test_literal_secret_is_never_echoed(project):
    text = GOOD.replace('"${FB}"', "EAABsecretvalue99")
    problems = problems_of(project, text)
    assert problems and all("EAABsecretvalue99" not in p for p in problems)


def test_yaml_syntax_error_names_the_line(project):
    assert problems_of(project, GOOD.replace("tags: [borough, bcu-ce]", "tags: [borough")) == [
        "11: invalid YAML: expected ',' or ']', but got ':'"]


def test_a_borough_listed_twice_in_any_case_is_a_problem_on_its_line(project):
    text = GOOD.replace("  - {name: Hackney, bcu: CE}\n",
                        "  - {name: Hackney, bcu: CE}\n  - {name: Camden, bcu: CN}\n"
                        "  - {name: HACKNEY, bcu: CE}\n")
    assert problems_of(project, text) == ["4: boroughs[2].name: borough 'HACKNEY' is listed twice"]


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert caught.value.problems == (
        f"{tmp_path / 'nope.yaml'}: no such file; pass --config PATH or set METPOST_CONFIG",)


def test_not_a_mapping(project):
    assert problems_of(project, "- just\n- a list\n") == [
        "1: (top level): must be a mapping with boroughs, personalities and accounts, "
        "not a list"]


def test_unquoted_reference_in_flow_mapping_gets_a_hint(project):
    text = GOOD.replace('{page_access_token: "${FB}"}', "{page_access_token: ${FB}}")
    assert problems_of(project, text) == [
        "18: invalid YAML: expected ',' or '}', but got '{'; inside { ... } quote each "
        "reference, as '${VAR}'"]


def test_timezone_sets_what_now_means(project):
    from metpost.broadcast import local_now

    config = load_config(project("timezone: Asia/Tokyo\n" + GOOD.lstrip()))
    assert config.timezone == "Asia/Tokyo"
    assert local_now(config).utcoffset().total_seconds() == 9 * 3600
    assert problems_of(project, "timezone: Europe/Londres\n" + GOOD.lstrip()) == [
        "1: timezone: unknown time zone 'Europe/Londres'; use an IANA name such as "
        "Europe/London"]
