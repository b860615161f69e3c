"""Files metpost writes for people (the dry run's page, a plan): written whole, through a link,
keeping their permissions; never over a device, a pipe or a folder."""

from __future__ import annotations

import json
import os
import stat

import pytest

PREVIEW = ["send", "--all", "--message", "{{ borough }}: roads reopen at 6pm.", "--dry-run"]
PLAN = ["send", "--account", "hackney-x", "--message", "{{ borough }}: roads reopen at 6pm."]


@pytest.mark.parametrize("option", ["--html", "--plan"])
def test_a_named_pipe_is_refused_and_left_as_it_is(fleet, tmp_path, option):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    args = [*PREVIEW, "--html", str(pipe)] if option == "--html" else [*PLAN, "--plan",
                                                                        str(pipe)]
    outcome = fleet.run(args)
    assert outcome.exit_code == 2, outcome
    # Refused as the command line is read, before anything is rendered or shown.
    assert outcome.stderr.splitlines()[-1] == (
        f"Error: Invalid value for '{option}': {pipe}: it is a named pipe; give the path of a "
        "file")
    assert outcome.stdout == ""
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)  # not replaced by a file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet", "pipe"]  # nothing beside it
    if option == "--plan":  # refused before the audit trail records a plan
        events = fleet.run(["audit", "--json"])
        assert "planned" not in events.stdout


@pytest.mark.parametrize("option", ["--html", "--plan"])
@pytest.mark.parametrize("which", ["accounts.yaml", "templates/rumour-control.j2",
                                   "schedules.yaml"])
def test_metposts_own_files_are_never_written_over(fleet, option, which):
    target = fleet.root / which
    if not target.exists():
        target.write_text("schedules: []\n", encoding="utf-8")
    before = target.read_bytes()
    args = [*PREVIEW, "--html", str(target)] if option == "--html" else [*PLAN, "--plan",
                                                                          str(target)]
    outcome = fleet.run([*args, "--json"])
    assert outcome.exit_code == 2
    assert outcome.error_lines == [
        f"metpost: error: {option} {target}: that is one of metpost's own files (the accounts, "
        "a template or the schedules); write it somewhere else"]
    assert json.loads(outcome.stdout)["exit_code"] == 2  # one document
    assert target.read_bytes() == before


def test_a_folder_is_refused(fleet, tmp_path):
    outcome = fleet.run([*PREVIEW, "--html", str(tmp_path)])
    assert outcome.exit_code == 2
    assert outcome.stderr.splitlines()[-1].endswith(f"{tmp_path}: it is a folder; give the "
                                                    "path of a file")


def test_the_page_writer_refuses_what_is_not_a_file_even_when_called_directly(tmp_path):
    # The library, used without Click, keeps the same rule (``--html`` checks it earlier).
    from metpost.errors import MetpostError
    from metpost.page import write_page

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(MetpostError, match="it is a named pipe; give the path of a file for "
                                           "the page"):
        write_page(pipe, "<p>page</p>")
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)


def test_a_link_is_written_through_and_stays_a_link(fleet, tmp_path):
    real = tmp_path / "real.html"
    real.write_text("old", encoding="utf-8")
    link = tmp_path / "latest.html"
    link.symlink_to(real)
    outcome = fleet.run([*PREVIEW, "--html", str(link)])
    assert outcome.exit_code == 0, outcome
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert "roads reopen" in real.read_text(encoding="utf-8")


def test_a_page_rewritten_keeps_its_permissions_and_a_new_one_follows_the_umask(fleet,
                                                                                 tmp_path):
    shared = tmp_path / "shared.html"
    shared.write_text("old", encoding="utf-8")
    shared.chmod(0o604)  # a mode no umask gives a new file
    assert fleet.run([*PREVIEW, "--html", str(shared)]).exit_code == 0
    assert stat.S_IMODE(shared.stat().st_mode) == 0o604
    fresh = tmp_path / "fresh.html"
    previous = os.umask(0o027)
    try:
        assert fleet.run([*PREVIEW, "--html", str(fresh)]).exit_code == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o640


# -- a reader that goes away ------------------------------------------------------------------

def run_into_head(fleet, args: list[str]) -> tuple[int, str, str]:
    """Run metpost as a process whose stdout is read for one line and then closed, as
    ``metpost ... | head -1`` does; its exit code, that line, and its stderr."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "metpost", *args, "--config", str(fleet.config),
               "--ledger", fleet.ledger]
    process = subprocess.Popen(command, env={**os.environ, **fleet.env}, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # the reader goes away
    errors = process.stderr.read()
    return process.wait(timeout=60), first, errors


def test_a_reader_that_goes_away_stops_the_output_not_the_broadcast(fleet):
    fleet.x.latency = fleet.graph.latency = 0.3  # results come after the reader has gone
    code, first, errors = run_into_head(fleet, [
        "send", "--all", "--message", "{{ borough }}: roads reopen at 6pm.", "--yes",
        "--concurrency", "1"])
    assert first.startswith("sent ")
    assert (code, errors) == (0, "")  # every post went out: exit 0, nothing to complain of
    assert fleet.ledger_rows("SELECT state, COUNT(*) FROM posts GROUP BY state") == [("sent", 4)]
    # The run ended as runs end: the audit trail says how.
    outcomes = [row[0] for row in fleet.ledger_rows(
        "SELECT outcome FROM audit_events ORDER BY id")]
    assert outcomes[-1] == "done", outcomes


def test_a_dry_run_read_for_one_line_exits_0(fleet):
    code, first, errors = run_into_head(fleet, [
        "send", "--all", "--message", "{{ borough }}: roads reopen at 6pm.", "--dry-run",
        "--public-safety"])
    assert first and code == 0 and "Error" not in errors and "error" not in errors


def test_a_closed_stdout_is_no_reason_to_fail_the_broadcast(fleet):
    # `metpost send ... >&-` (a cron line or a service with no stdout): Python has None for it.
    import shlex
    import subprocess
    import sys

    command = [sys.executable, "-m", "metpost", "send", "--all", "--message",
               "{{ borough }}: roads reopen at 6pm.", "--yes", "--config", str(fleet.config),
               "--ledger", fleet.ledger]
    finished = subprocess.run(["bash", "-c", " ".join(map(shlex.quote, command)) + " >&-"],
                              env={**os.environ, **fleet.env}, capture_output=True, text=True,
                              timeout=60)
    assert (finished.returncode, finished.stderr) == (0, ""), finished.stderr
    assert fleet.ledger_rows("SELECT state, COUNT(*) FROM posts GROUP BY state") == [("sent", 4)]


def test_a_loop_of_links_is_refused_as_the_command_line_is_read(fleet, tmp_path):
    (tmp_path / "a.html").symlink_to(tmp_path / "b.html")
    (tmp_path / "b.html").symlink_to(tmp_path / "a.html")
    outcome = fleet.run([*PREVIEW, "--html", str(tmp_path / "a.html")])
    assert outcome.exit_code == 2, outcome
    assert outcome.stderr.splitlines()[-1].endswith("it is a loop of symbolic links; give the "
                                                    "path of a file")
