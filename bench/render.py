"""Render + check throughput, in-process: how many finished, checked posts a second.

Renders the shipped rumour-control template for every account of a 10,000-account config in
the shipped example's shape (bench/scale.py writes it) with ``broadcast.prepare`` — sandboxed
rendering, X's weighted length, every check — and, as the baseline measured in the same run,
the same template rendered by a bare Jinja2 environment with no checks at all.

In that shape the accounts of one borough get the same text (32 texts in all), and metpost
remembers the X length of the latest texts it weighed. So it is measured a second time with
every account's link made its own (``?account=N``), every text distinct: the target is judged
on that one, the worse of the two. Each run starts with the remembered lengths forgotten.

Target: >= 10,000 posts per second. Run it with ``make bench``.
"""

from __future__ import annotations

import re
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
WEBSITE = re.compile(r'(vars: \{website: "[^"]*)(")')


def distinct_links(path: Path) -> Path:
    """A copy of the config at ``path`` in which every account's website link is its own."""
    numbers = iter(range(1, 10**9))
    text = WEBSITE.sub(lambda m: f"{m.group(1)}?account={next(numbers)}{m.group(2)}",
                       path.read_text(encoding="utf-8"))
    copy = path.with_name("accounts-distinct.yaml")
    copy.write_text(text, encoding="utf-8")
    return copy


def main() -> None:
    import jinja2
    from scale import write_config

    from metpost.broadcast import prepare
    from metpost.config import load_config
    from metpost.render import load_template
    from metpost.selection import Selection
    from metpost.textrules import weighted_length

    def rate(path: Path) -> tuple[float, int, int]:
        """(posts a second, posts, distinct texts) of prepare() over the config at ``path``."""
        config = load_config(path)
        template = load_template(config.templates_dir, "rumour-control")
        timings = []
        for _ in range(RUNS):
            weighted_length.cache_clear()
            started = time.perf_counter()
            broadcast = prepare(config, Selection(all=True), template, VARIABLES, {},
                                public_safety=True)
            timings.append(time.perf_counter() - started)
        posts = len(broadcast.posts)
        return posts / statistics.median(timings), posts, len({p.text for p in broadcast.posts})

    with tempfile.TemporaryDirectory() as tmp:
        path = write_config(Path(tmp), ACCOUNTS)
        if not (path.parent / "templates").exists():
            (path.parent / "templates").symlink_to(ROOT / "templates")
        shared_rate, posts, shared_texts = rate(path)
        distinct_rate, _, distinct_texts = rate(distinct_links(path))

        config = load_config(path)
        template = load_template(config.templates_dir, "rumour-control")
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
    verdict = "PASS" if distinct_rate >= 10_000 else "FAIL"
    print(f"render + check: {posts} posts, medians of {RUNS} runs")
    print(f"  metpost prepare, {shared_texts:,} texts (one per borough and platform)  "
          f"{shared_rate:9,.0f} posts/s")
    print(f"  metpost prepare, {distinct_texts:,} texts (every link its own)  "
          f"{distinct_rate:9,.0f} posts/s   target >= 10,000: {verdict}")
    print(f"  bare Jinja2 render, no checks (baseline)     {bare_rate:9,.0f} posts/s   "
          f"metpost at {distinct_rate / bare_rate:.2f}x of it (distinct texts)")


if __name__ == "__main__":
    main()
