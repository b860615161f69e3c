"""The example that ships: the Met's accounts and templates render, fit, and preview offline."""

from __future__ import annotations

import json

import pytest

from tests.conftest import PROJECT, run

CONFIG = str(PROJECT / "accounts.yaml")

# Realistic values for every shipped template, and the accounts it is written for.
USES = {
    "rumour-control": (["--tag", "borough", "--tag", "central"], {
        "rumour": "a stabbing at Mare Street",
        "truth": "officers were called to a fight and one man has minor injuries"}),
    "appeal": (["--tag", "borough"], {
        "incident": "a serious assault", "location": "Kingsland Road, near Dalston Junction",
        "when": "about 22:40 on Saturday 14 November", "ref": "CAD 7312/14NOV"}),
    "reassurance-patrols": (["--tag", "borough"], {
        "reason": "Tuesday's incident on Kingsland Road", "area": "around Dalston Junction",
        "until": "over the weekend"}),
    "road-closure": (["--tag", "borough", "--tag", "central"], {
        "roads": "Mare Street between Morning Lane and Graham Road", "reason": "a collision",
        "diversion": "Buses are diverted via Kingsland Road",
        "reopen": "We expect it to reopen by 18:00"}),
    "public-order-update": (["--personality", "co11"], {
        "event": "The march from Hyde Park to Whitehall",
        "update": "The march is moving along Piccadilly and is expected in Whitehall by 14:00",
        "conditions": "the march must keep to the agreed route and finish by 17:00"}),
    "officer-takeover": (["--personality", "on-the-street"], {
        "role": "a neighbourhood officer in Hackney",
        "plans": "school visits, a weapons sweep and a community meeting"}),
}


def test_every_shipped_template_is_exercised():
    names = {path.name.split(".")[0] for path in (PROJECT / "templates").glob("*.j2")}
    assert names == set(USES)
    assert len(names) >= 6


@pytest.mark.parametrize("name", sorted(USES))
def test_shipped_template_renders_and_fits_on_every_account(name):
    selection, variables = USES[name]
    args = ["send", "--config", CONFIG, *selection, "--template", name, "--dry-run", "--json"]
    for key, value in variables.items():
        args += ["--var", f"{key}={value}"]
    outcome = run(args)
    assert outcome.exit_code == 0, outcome.stdout + outcome.stderr
    posts = json.loads(outcome.stdout)["posts"]
    assert posts
    for post in posts:
        assert post["ok"], (post["account"], post["problems"], post["text"])
        assert "{{" not in post["text"] and "None" not in post["text"]
        if post["platform"] == "x":
            assert 100 <= post["length"] <= 280, (post["account"], post["length"])


def test_the_readme_demo_is_a_dry_run_needing_no_credentials():
    makefile = (PROJECT / "Makefile").read_text()
    demo = makefile.split("demo: $(STAMP)\n", 1)[1].split("\n\n", 1)[0]
    assert "--dry-run" in demo and "--borough Hackney" in demo
    outcome = run(["send", "--config", CONFIG, "--borough", "Hackney", "--template",
                   "rumour-control", "--var", "rumour=a stabbing at Mare Street",
                   "--var", "truth=officers were called to a fight; one man has minor injuries",
                   "--dry-run"])
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout.startswith("Dry run\n\n== Text 1 of 2, for 1 account\nHackney: ")
    assert "  hackney-x (@MPSHackney)  x " in outcome.stdout
    assert "  hackney-facebook (MPSHackney)  facebook " in outcome.stdout
    assert outcome.stdout.rstrip().endswith(
        "2 posts (2 distinct texts), all fit, 2 waiting for credentials (metpost check lists "
        "them); dry run: nothing was sent.")


def test_the_readme_cron_line_for_central_accounts_runs_on_the_shipped_example():
    # road-closure guards {{ borough }} with "is defined": the central accounts have none.
    outcome = run(["send", "--config", str(PROJECT / "accounts.yaml"), "--tag", "central",
                   "--template", "road-closure", "--var", "roads=Mare Street", "--var",
                   "reason=a burst water main", "--key", "roads-2026-12-02", "--dry-run"])
    assert outcome.exit_code == 0, outcome.stderr
