"""Real processes: a broadcast killed mid-flight, and two identical broadcasts at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_delivery import (  # noqa: F401 — the fixture applies to these tests too
    assert_exactly_one_post_each_and_ledger_agrees,
    duplicates_accepted,
    statuses,
)

MESSAGE = ["--all", "--message", "{{ borough }}: roads reopen at 6pm.", "--yes", "--json"]


def start(fleet, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``metpost send`` of MESSAGE to the fleet, as a process of its own."""
    command = [sys.executable, "-m", "metpost", "send", "--config", str(fleet.config),
               "--ledger", fleet.ledger, *MESSAGE, *extra]
    return subprocess.Popen(command, env={**os.environ, **fleet.env, **(env or {})}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(condition, seconds: float = 15.0) -> None:
    give_up = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < give_up, "timed out waiting"
        time.sleep(0.02)


def test_sigkill_mid_flight_then_rerun_gives_no_duplicate_and_no_gap(fleet):
    # The first post on each platform is taken, then the platform sits on its answer; the
    # other posts wait their turn (one request at a time per platform).
    fleet.x.stall_next(1, seconds=30)
    fleet.graph.stall_next(1, seconds=30)
    process = start(fleet, "--concurrency", "1")
    wait_for(lambda: len(fleet.x.live_posts()) == 1 and len(fleet.graph.live_posts()) == 1)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL

    rerun = fleet.run(["send", *MESSAGE])
    assert rerun.exit_code == 0, rerun.stdout + rerun.stderr
    assert statuses(rerun) == {"hackney-x": "already sent", "hackney-facebook": "already sent",
                               "camden-x": "sent", "camden-facebook": "sent"}
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


def test_two_identical_sends_at_once_post_once_per_account(fleet):
    fleet.x.latency = fleet.graph.latency = 0.5
    first, second = start(fleet), start(fleet)
    outputs = [process.communicate(timeout=60) for process in (first, second)]
    seen: dict[str, list[str]] = {}
    for stdout, stderr in outputs:
        assert stdout, stderr
        for account, status in statuses_of(stdout).items():
            seen.setdefault(account, []).append(status)
    for account, both in seen.items():
        assert both.count("sent") == 1, (account, both)
        assert {s for s in both if s != "sent"} <= {"already sent", "in progress elsewhere"}
    # Both runs overlapped (each request takes 0.5 s): the loser saw the winner at work.
    assert any("in progress elsewhere" in both for both in seen.values()), seen
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


def statuses_of(stdout: str) -> dict[str, str]:
    return {p["account"]: p["status"] for p in json.loads(stdout)["posts"]}


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_one_ctrl_c_or_sigterm_lets_posts_in_flight_finish_and_starts_no_new_one(fleet, stop):
    # SIGTERM is what systemd, `timeout` and `kill` send: like Ctrl-C, not a silent death.
    fleet.x.latency = fleet.graph.latency = 1.0
    process = start(fleet, "--concurrency", "1")
    wait_for(lambda: fleet.x.in_flight == 1 and fleet.graph.in_flight == 1)
    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    name = "Ctrl-C" if stop == signal.SIGINT else "SIGTERM"
    assert f"Stopping ({name}): no new posts will start" in stderr
    result = statuses_of(stdout)
    # The post in flight on each platform finished and was recorded; the next one never went.
    assert sorted(result.values()) == ["not sent", "not sent", "sent", "sent"]
    assert len(fleet.x.live_posts()) == len(fleet.graph.live_posts()) == 1
    assert json.loads(stdout)["interrupted"] is True
    fleet.x.latency = fleet.graph.latency = 0.0
    rerun = fleet.run(["send", *MESSAGE])
    assert rerun.exit_code == 0, rerun.stdout
    assert sorted(statuses(rerun).values()) == ["already sent"] * 2 + ["sent"] * 2
    assert_exactly_one_post_each_and_ledger_agrees(fleet)


def test_a_second_ctrl_c_quits_at_once_and_the_rerun_finds_what_went_out(fleet):
    fleet.x.stall_next(1, seconds=30)
    process = start(fleet, "--concurrency", "1", "--platform", "x")
    wait_for(lambda: len(fleet.x.live_posts()) == 1)
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=5)
    assert process.returncode == 130
    rerun = fleet.run(["send", *MESSAGE, "--platform", "x"])
    assert rerun.exit_code == 0, rerun.stdout
    assert sorted(statuses(rerun).values()) == ["already sent", "sent"]
    assert [len(fleet.x.live_posts(name)) for name in ("MPSHackney", "MPSCamden")] == [1, 1]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_retract_stopped_by_ctrl_c_or_sigterm_says_what_it_did_and_exits_130(fleet, stop):
    assert fleet.run(["send", *MESSAGE]).exit_code == 0
    fleet.x.latency = fleet.graph.latency = 1.0  # each delete takes a second
    command = [sys.executable, "-m", "metpost", "retract", "last", "--config", str(fleet.config),
               "--ledger", fleet.ledger, "--yes", "--json", "--concurrency", "1"]
    process = subprocess.Popen(command, env={**os.environ, **fleet.env}, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: fleet.x.in_flight == 1 and fleet.graph.in_flight == 1)
    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    document = json.loads(stdout)
    assert document["interrupted"] is True
    result = statuses_of(stdout)
    # The delete in flight on each platform finished and was recorded; the next one never went.
    assert sorted(result.values()) == ["not sent", "not sent", "retracted", "retracted"]
    outcomes = fleet.ledger_rows("SELECT outcome FROM audit_events WHERE kind = 'retract' "
                                 "ORDER BY id")
    assert len(outcomes) == 2 and outcomes[0] == ("started",)  # and how it ended
    fleet.x.latency = fleet.graph.latency = 0.0
    finished = fleet.run(["retract", "last", "--yes", "--json"])
    assert finished.exit_code == 0, finished.stdout
    assert fleet.x.live_posts() == [] and fleet.graph.live_posts() == []


def cpu_seconds(process: subprocess.Popen[str]) -> float:
    """User and system CPU time the process has used so far (Linux's /proc)."""
    stat = Path(f"/proc/{process.pid}/stat").read_text(encoding="ascii")
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_before_any_post_exits_130_and_says_so_in_json(fleet, stop):
    # Rendering a template that loops for ever (until the render clock stops it, each account):
    # the signal comes while the process works, before delivery's own handlers are in place.
    forever = "{% for i in range(10**5) %}{% for j in range(10**5) %}{% endfor %}{% endfor %}x"
    command = [sys.executable, "-m", "metpost", "send", "--config", str(fleet.config),
               "--ledger", fleet.ledger, "--all", "--message", forever, "--yes", "--json"]
    process = subprocess.Popen(command, env={**os.environ, **fleet.env}, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: cpu_seconds(process) >= 0.5)  # well past start-up: rendering
    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=30)
    name = "Ctrl-C" if stop == signal.SIGINT else "SIGTERM"
    assert process.returncode == 130, stderr
    assert stderr.splitlines() == [f"metpost: error: stopped ({name}) with no post in flight"]
    assert json.loads(stdout)["exit_code"] == 130
    assert fleet.x.request_count == fleet.graph.request_count == 0
