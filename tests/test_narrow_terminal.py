"""At 80 columns on a real pseudo-terminal: nothing a person must read or copy (broadcast ids,
post URLs, handles, account names) is broken across lines, no line is wider than the terminal,
and the message text is shown."""

from __future__ import annotations

import re

from tests.conftest import PROJECT
from tests.terminal import on_terminal as run_on_terminal

COLUMNS = 80


def on_terminal(args: list[str], env: dict[str, str] | None = None,
                answer: str | None = None) -> tuple[int, list[str]]:
    """Run metpost on an 80-column pseudo-terminal; return its exit code and screen lines."""
    code, screen = run_on_terminal(args, env, answer=answer, columns=COLUMNS)
    return code, screen.splitlines()


def assert_fits(lines: list[str]) -> None:
    wide = [line for line in lines if len(line) > COLUMNS]
    assert not wide, f"{len(wide)} lines wider than {COLUMNS}: {wide[:3]}"


def whole(value: str, lines: list[str]) -> bool:
    return any(value in line for line in lines)


SHIPPED = ["--config", str(PROJECT / "accounts.yaml")]


def test_accounts_list_keeps_names_and_handles_whole():
    code, lines = on_terminal(["accounts", "list", *SHIPPED])
    assert code == 0
    assert_fits(lines)
    assert whole("kensington-and-chelsea-facebook", lines)
    for handle in ("@MPSOnTheStreet", "@CO11MetPolice", "@metpoliceuk", "@MPSHackney"):
        assert whole(handle, lines), handle
    assert lines[-1].strip().endswith("accounts")


def test_a_dry_run_of_every_account_is_a_page_with_each_text_once():
    args = ["send", "--all", *SHIPPED, "--template", "road-closure", "--var",
            "roads=Mare Street", "--var", "reason=a burst water main", "--dry-run"]
    code, lines = on_terminal(args)
    assert code == 0
    assert_fits(lines)
    headings = [line for line in lines if re.fullmatch(r"Text \d+ of \d+, for \d+ accounts?",
                                                       line.strip())]
    assert len(headings) == int(headings[0].split(" of ")[1].split(",")[0])
    assert len(lines) < 400  # a page per distinct text, not a block per post
    assert whole("kensington-and-chelsea-x (@MPSKensChel)", lines) or whole(
        "kensington-and-chelsea-x", lines)


def test_history_show_and_the_retract_prompt_at_80_columns(fleet):
    fleet.x.revoke(fleet.x_token("camden"))
    message = "{{ borough }}: officers are at the scene of a fire on the high street."
    assert fleet.run(["send", "--all", "-m", message, "--yes"]).exit_code == 1
    fleet.x.revoked.clear()
    second = "{{ borough }}: the high street has reopened. Thank you for your patience."
    assert fleet.run(["send", "--all", "-m", second, "--yes"]).exit_code == 0
    ledger = ["--ledger", fleet.ledger]

    code, lines = on_terminal(["history", *ledger])
    assert code == 0
    assert_fits(lines)
    ids = [r["id"] for r in __import__("json").loads(
        fleet.run(["history", "--json"]).stdout)["broadcasts"]]
    for broadcast in ids:
        assert whole(broadcast, lines), broadcast
    assert whole("Hackney: officers are at the scene", lines)
    assert whole("Hackney: the high street has reopened", lines)
    assert whole(f"Unfinished: {ids[1]}", lines)
    assert whole(f"metpost retry {ids[1]}", lines)

    code, lines = on_terminal(["show", ids[0], *ledger])
    assert code == 0
    assert_fits(lines)
    urls = [post.id for post in fleet.x.live_posts()]
    for post in fleet.x.live_posts("MPSHackney")[-1:]:
        assert whole(f"https://x.com/MPSHackney/status/{post.id}", lines)
    assert urls
    texts = [line for line in lines if "the high street has reopened" in line]
    assert len(texts) == 2  # Hackney's and Camden's text, each once (not once per post)

    code, lines = on_terminal(["retract", ids[0], "--config", str(fleet.config), *ledger],
                              env=fleet.env, answer="n")
    assert code == 0
    assert_fits(lines)
    assert whole("Delete 4 posts from their platforms? [y/N]", lines)
    assert whole("Camden: the high street has reopened", lines)
    for post in fleet.graph.live_posts("1001")[-1:]:
        page, _, number = post.id.partition("_")
        assert whole(f"https://www.facebook.com/{page}/posts/{number}", lines)
    assert len(fleet.x.live_posts()) == 3  # nothing was deleted


def test_a_rerun_on_a_terminal_says_it_is_out_and_does_not_ask(fleet):
    args = ["send", "--all", "-m", "{{ borough }}: all clear.", "--config", str(fleet.config),
            "--ledger", fleet.ledger]
    assert fleet.run([*args[:4], "--yes"]).exit_code == 0
    code, lines = on_terminal(args, env=fleet.env, answer="y")
    assert code == 0
    assert not any("[y/N]" in line for line in lines)
    assert any(line.startswith("already sent as broadcast ") for line in lines)
    assert len(fleet.x.live_posts()) == 2


def test_retry_on_a_terminal_shows_what_it_will_retry_and_asks(fleet):
    fleet.x.revoke(fleet.x_token("camden"))
    assert fleet.run(["send", "--all", "-m", "{{ borough }}: all clear.", "--yes"]).exit_code == 1
    fleet.x.revoked.clear()
    code, lines = on_terminal(["retry", "last", "--config", str(fleet.config), "--ledger",
                               fleet.ledger], env=fleet.env, answer="y")
    assert code == 0
    assert_fits(lines)
    assert whole("Retry 1 post? [y/N]", lines)
    assert whole("Camden: all clear.", lines)
    assert len(fleet.x.live_posts("MPSCamden")) == 1


def test_between_80_and_120_columns_only_the_flexible_column_is_cut_and_with_an_ellipsis():
    # Planned accounts have a Status column: at any width a table is drawn, it is whole.
    selection = ["--borough", "Croydon", "--borough", "Kingston upon Thames"]
    for columns in (84, 92, 100, 105, 120):
        _, screen = run_on_terminal(["accounts", "list", *SHIPPED, *selection],
                                    columns=columns)
        lines = screen.splitlines()
        assert all(len(line) <= columns for line in lines), columns
        rows = [line for line in lines if line.startswith(("croydon-", "kingston-"))]
        assert rows and all(line.rstrip().endswith("planned") for line in rows), (columns, rows)
        tags = [line for line in rows if "Kingston upon Thames" in line]
        assert all("bcu-sw" in line or "…" in line for line in tags), (columns, tags)
