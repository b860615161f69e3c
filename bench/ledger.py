"""Ledger benchmark: recording and claiming a 10,000-account broadcast, on SQLite and PostgreSQL.

For each backend and each of ``--runs`` runs, a fresh ledger (a new SQLite file in a temporary
directory; a new database on a PostgreSQL server this script starts the way the tests do:
initdb and pg_ctl in a temporary directory, on a private port) gets one broadcast of
``--posts`` posts (``record_broadcast``), then the run claims them all (``claim``), exactly as
``metpost send`` does before its first request. Each step is timed on its own; the medians are
printed, with the time per post and the targets:

- PostgreSQL: record + claim of 10,000 posts in under 5 s;
- SQLite: record + claim under 1 ms per post.

The server runs with its durable defaults (fsync on), as a production server would, unless
``--fast`` asks for the tests' settings (fsync off). Run it with ``make bench-ledger``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from metpost.ledger import Ledger, PlannedPost, open_ledger  # noqa: E402
from tests.postgres_server import PostgresServer, PostgresUnavailable  # noqa: E402

POSTGRES_TARGET = 5.0  # seconds for record + claim of 10,000 posts
SQLITE_TARGET = 0.001  # seconds per post for record + claim


@dataclass(frozen=True)
class Timing:
    record: float
    claim: float

    @property
    def total(self) -> float:
        return self.record + self.claim


def planned_posts(count: int) -> list[PlannedPost]:
    """A broadcast's posts, half on X and half on Facebook, with texts of a realistic size."""
    return [PlannedPost(account=f"borough-{n:05d}-{'x' if n % 2 else 'facebook'}",
                        platform="x" if n % 2 else "facebook", handle=f"@Borough{n:05d}",
                        text=f"Borough {n}: roads around the town hall reopen at 6pm. "
                             "Thank you for your patience. https://www.met.police.uk/roads",
                        idempotency_key=f"{n:064x}") for n in range(count)]


def time_once(ledger: Ledger, posts: list[PlannedPost]) -> Timing:
    started = time.perf_counter()
    broadcast = ledger.record_broadcast("b" * 64, "--message", posts)
    recorded = time.perf_counter()
    claims = ledger.claim(broadcast, [post.account for post in posts], lease_seconds=30)
    claimed = time.perf_counter()
    assert len(claims) == len(posts) and {c.action for c in claims} == {"send"}
    ledger.close()
    return Timing(record=recorded - started, claim=claimed - recorded)


def median(timings: list[Timing]) -> Timing:
    return Timing(record=statistics.median(t.record for t in timings),
                  claim=statistics.median(t.claim for t in timings))


def measure(new_ledger: Callable[[], Ledger], posts: list[PlannedPost], runs: int) -> Timing:
    return median([time_once(new_ledger(), posts) for _ in range(runs)])


def report(name: str, timing: Timing, count: int, verdict: str) -> None:
    per_post = timing.total / count * 1000
    print(f"{name:<11} record {timing.record:7.3f} s   claim {timing.claim:7.3f} s   "
          f"total {timing.total:7.3f} s   {per_post:.4f} ms/post   {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fast", action="store_true",
                        help="run the server with the tests' settings (fsync off)")
    options = parser.parse_args()
    posts = planned_posts(options.posts)
    print(f"record_broadcast + claim of {options.posts:,} posts, median of {options.runs} runs")

    with tempfile.TemporaryDirectory() as folder:
        files = iter(range(options.runs))
        sqlite = measure(lambda: open_ledger(str(Path(folder) / f"{next(files)}.sqlite3")),
                         posts, options.runs)
    per_post = sqlite.total / options.posts
    met = "met" if per_post < SQLITE_TARGET else "MISSED"
    report("SQLite", sqlite, options.posts, f"target < {SQLITE_TARGET * 1000:g} ms/post: {met}")

    try:
        server = PostgresServer.start_new(durable=not options.fast)
    except PostgresUnavailable as error:
        print(f"PostgreSQL  not measured: {error}")
        return 1
    try:
        os.environ["PGPASSWORD"] = server.password
        postgres = measure(lambda: open_ledger(server.url(server.create_database())), posts,
                           options.runs)
        scaled = postgres.total * 10_000 / options.posts
        met = "met" if scaled < POSTGRES_TARGET else "MISSED"
        report("PostgreSQL", postgres, options.posts,
               f"target < {POSTGRES_TARGET:g} s for 10,000: {met}")
        print(f"(PostgreSQL {server.version()}, fsync {'off' if options.fast else 'on'}, "
              "TCP on 127.0.0.1)")
    finally:
        server.destroy()
    return 0 if per_post < SQLITE_TARGET and scaled < POSTGRES_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
