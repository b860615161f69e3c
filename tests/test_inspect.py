"""accounts list, templates list and check: read-only commands, no network."""

from __future__ import annotations

import json

import pytest


def test_accounts_list_with_selection(fleet):
    outcome = fleet.run(["accounts", "list", "--tag", "bcu-cn", "--json"])
    assert outcome.exit_code == 0
    accounts = json.loads(outcome.stdout)["accounts"]
    assert [a["name"] for a in accounts] == ["camden-x", "camden-facebook"]
    assert accounts[0]["credentials"]["access_token"] == "CAMDEN_X_ACCESS_TOKEN"
    assert accounts[1]["page_id"] == "1002"


def test_accounts_list_plain_is_tab_separated(fleet):
    outcome = fleet.run(["accounts", "list", "--platform", "x"])
    assert outcome.exit_code == 0
    assert outcome.stdout.splitlines() == [
        "Name\tPlatform\tHandle\tBorough\tPersonality\tTags",
        "hackney-x\tx\t@MPSHackney\tHackney\t\tborough, bcu-ce",
        "camden-x\tx\t@MPSCamden\tCamden\t\tborough, bcu-cn",
    ]


def test_templates_list(fleet):
    outcome = fleet.run(["templates", "list", "--json"])
    assert outcome.exit_code == 0
    assert json.loads(outcome.stdout) == {"templates": [{
        "name": "rumour-control", "description": "Counter a rumour.", "variants": [],
        "vars": {"rumour": {"help": "What people are saying", "required": True,
                            "default": None}}}]}


def test_check_reports_credentials_without_network(fleet):
    outcome = fleet.run(["check"], env={"CAMDEN_FB_TOKEN": ""})
    assert outcome.exit_code == 0
    assert outcome.stdout.splitlines() == [
        f"{fleet.config}: valid — 4 accounts, 2 boroughs, 0 personalities",
        f"{fleet.config.parent / 'templates'}: 1 templates, all parse",
        "credentials: 3 of 4 accounts can post from here; the other 1 lacks secrets in this "
        "environment. A dry run needs none; a send to them stops before posting, and check "
        "--require-credentials fails until they are set",
        "  camden-facebook: not set: CAMDEN_FB_TOKEN",
    ]
    strict = fleet.run(["check", "--require-credentials"], env={"CAMDEN_FB_TOKEN": ""})
    assert strict.exit_code == 2
    assert strict.error_lines == [
        "metpost: error: 1 account lacks its secrets (camden-facebook); set them in the "
        "environment (--require-credentials)"]
    assert fleet.x.request_count == 0 and fleet.graph.request_count == 0


def test_check_does_not_count_an_account_whose_secret_no_token_has_as_ready(fleet):
    outcome = fleet.run(["check"], env={"CAMDEN_FB_TOKEN": "", "HACKNEY_FB_TOKEN": "a\nb"})
    assert outcome.exit_code == 2
    assert outcome.stdout.splitlines()[2] == (
        "credentials: 2 of 4 accounts can post from here; of the other 2, 1 lacks secrets in "
        "this environment and 1 has the problems said below")
    assert outcome.error_lines == [
        "metpost: error: hackney-facebook: credential HACKNEY_FB_TOKEN holds a line break or "
        "another control character, which no token has; set it again without it"]


def test_check_finds_template_syntax_errors(fleet):
    broken = fleet.config.parent / "templates" / "broken.j2"
    broken.write_text("{% if borough %}no end\n")
    outcome = fleet.run(["check"])
    assert outcome.exit_code == 2
    [line] = outcome.error_lines
    assert line.startswith(f"metpost: error: {broken}:1: template syntax error: Unexpected end "
                           "of template. Jinja was looking for the following tags: ")
    assert line.endswith("The innermost block that needs to be closed is 'if'.")


@pytest.mark.parametrize("kind", ["a folder", "a link to nothing", "a loop of links"])
def test_check_and_send_name_a_template_that_is_not_a_file(fleet, kind):
    templates = fleet.config.parent / "templates"
    path = templates / "dirt.j2"
    if kind == "a folder":
        path.mkdir()
        problem = f"template 'dirt': {path} is a folder; a template is a text file"
    elif kind == "a link to nothing":
        path.symlink_to("nowhere.j2")
        problem = (f"template 'dirt': {path} is a link to nowhere.j2, which does not exist (or "
                   "is a loop of links); point it at a template file, or remove it")
    else:
        path.symlink_to("dirt.j2")
        problem = (f"template 'dirt': {path} is a link to dirt.j2, which does not exist (or is "
                   "a loop of links); point it at a template file, or remove it")
    checked = fleet.run(["check"])
    assert checked.exit_code == 2
    assert checked.error_lines == [f"metpost: error: {problem}"]
    sent = fleet.run(["send", "--all", "--template", "dirt", "--dry-run"])
    assert sent.exit_code == 2
    assert sent.error_lines == [f"metpost: error: {problem}"]
