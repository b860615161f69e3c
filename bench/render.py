"""Render + check throughput, in-process: how many finished, checked posts a second.

Renders the shipped rumour-control template for every account of a 10,000-account config in
the shipped example's shape (bench/scale.py writes it) with ``broadcast.prepare`` — sandboxed
rendering, X's weighted length, every check — and, as the baseline measured in the same run,
the same template rendered by a bare Jinja2 environment with no checks at all.

Target: >= 10,000 posts per second. Run it with ``make bench``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

ACCOUNTS = 10_000
RUNS = 3
VARIABLES = {"rumour": "a stabbing at Mare Street",
             "truth": "officers were called to a fight; one man has minor injuries"}


def main() -> None:
    import jinja2
    from scale import write_config

    from metpost.broadcast import prepare
    from metpost.config import load_config
    from metpost.render import load_template
    from metpost.selection import Selection

    with tempfile.TemporaryDirectory() as tmp:
        path = write_config(Path(tmp), ACCOUNTS)
        if not (path.parent / "templates").exists():
            (path.parent / "templates").symlink_to(ROOT / "templates")
        config = load_config(path)
        template = load_template(config.templates_dir, "rumour-control")
        timings = []
        for _ in range(RUNS):
            started = time.perf_counter()
            broadcast = prepare(config, Selection(all=True), template, VARIABLES, {},
                                public_safety=True)
            timings.append(time.perf_counter() - started)
        posts = len(broadcast.posts)
        metpost_rate = posts / statistics.median(timings)

        bare = jinja2.Environment()
        compiled = {platform: bare.from_string(template.for_platform(platform).body)
                    for platform in ("x", "facebook")}
        timings = []
        for _ in range(RUNS):
            started = time.perf_counter()
            for account in config.accounts:
                compiled.get(account.platform, compiled["x"]).render(
                    borough=config.boroughs.get(account.borough or ""), account=account,
                    **account.vars, **VARIABLES)
            timings.append(time.perf_counter() - started)
        bare_rate = len(config.accounts) / statistics.median(timings)
    verdict = "PASS" if metpost_rate >= 10_000 else "FAIL"
    print(f"render + check: {posts} posts, medians of {RUNS} runs")
    print(f"  metpost prepare (sandbox, X length, checks)  {metpost_rate:9,.0f} posts/s   "
          f"target >= 10,000: {verdict}")
    print(f"  bare Jinja2 render, no checks (baseline)     {bare_rate:9,.0f} posts/s   "
          f"metpost at {metpost_rate / bare_rate:.2f}x of it")


if __name__ == "__main__":
    main()
