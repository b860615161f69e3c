"""Chaos: overlapping runs with different keys and texts, faults on both platforms, and kill -9
at random moments, round after round. Afterwards every broadcast is on every account exactly
once, and the ledger names each post by its own remote id.

The fakes accept duplicates here, so only metpost can prevent a double post."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

ROUNDS = 20
ACCOUNTS = {"hackney-x": ("x", "MPSHackney", "Hackney"), "camden-x": ("x", "MPSCamden", "Camden"),
            "hackney-facebook": ("facebook", "1001", "Hackney"),
            "camden-facebook": ("facebook", "1002", "Camden")}


def send_command(fleet, key: str, text: str) -> list[str]:
    return ["send", "--all", "--message", text, "--key", key, "--yes", "--json"]


def start(fleet, key: str, text: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "metpost", "send", "--config", str(fleet.config),
               "--ledger", fleet.ledger,
               *send_command(fleet, key, text)[1:], "--deadline", "10"]
    return subprocess.Popen(command, env={**os.environ, **fleet.env}, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def inject_faults(fleet, rng: random.Random) -> None:
    for _ in range(rng.randint(0, 3)):
        fake = rng.choice([fleet.x, fleet.graph])
        fault = rng.choice(["drop", "post-then-500", "stall", "refuse", "503"])
        if fault == "drop":
            fake.drop_after_accept_next(1)
        elif fault == "post-then-500":
            fake.post_then_fail_next(1, status=500)
        elif fault == "stall":
            fake.stall_next(1, seconds=rng.uniform(0.1, 1.5))
        elif fault == "refuse":
            fake.refuse_next(1)
        else:
            fake.fail_next(1, status=503)


def test_kill_9_and_overlapping_runs_never_double_post_or_drop(fleet):
    rng = random.Random(20261201)
    fleet.x.refuse_duplicates = fleet.graph.refuse_duplicates = False
    fleet.x.latency = fleet.graph.latency = 0.05
    broadcasts: dict[str, str] = {}
    for round_number in range(ROUNDS):
        this_round = {f"chaos-{round_number}-{n}":
                      f"{{{{ borough }}}}: round {round_number}, message {n}."
                      for n in range(rng.randint(2, 3))}
        broadcasts.update(this_round)
        inject_faults(fleet, rng)
        processes = [start(fleet, key, text) for key, text in this_round.items()
                     for _ in range(rng.choice([1, 1, 2]))]  # some keys run twice at once
        rng.shuffle(processes)
        time.sleep(rng.uniform(0.0, 0.4))
        processes[0].send_signal(signal.SIGKILL)
        for process in processes:
            process.wait(timeout=60)
        for key, text in this_round.items():  # finish each broadcast, as the next cron would
            for _ in range(6):
                outcome = fleet.run(send_command(fleet, key, text))
                if outcome.exit_code == 0:
                    break
            else:
                raise AssertionError(f"{key} did not finish: {outcome.stdout}{outcome.stderr}")

    fakes = {"x": fleet.x, "facebook": fleet.graph}
    for account, (platform, who, borough) in ACCOUNTS.items():
        live = fakes[platform].live_posts(who)
        texts = Counter(post.text if platform == "x" else post.message for post in live)
        expected = Counter(text.replace("{{ borough }}", borough) for text in broadcasts.values())
        assert texts == expected, f"{account}: {texts - expected} extra, {expected - texts} missing"

    rows = fleet.ledger_rows("SELECT account, platform, state, remote_id, text FROM posts")
    assert len(rows) == len(broadcasts) * len(ACCOUNTS)
    assert {row[2] for row in rows} == {"sent"}
    remote_ids = [row[3] for row in rows]
    assert len(set(remote_ids)) == len(remote_ids), "two ledger posts share a remote id"
    by_id = {post.id: post.text for post in fleet.x.live_posts()}
    by_id |= {post.id: post.message for post in fleet.graph.live_posts()}
    for account, _platform, _state, remote_id, text in rows:
        assert by_id[remote_id] == text, f"{account}'s post {remote_id} is another post"
