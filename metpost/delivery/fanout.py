"""Run one piece of work per item concurrently, at most N at once per platform, in order."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def fan_out(items: Sequence[Item], platform_of: Callable[[Item], str],
            work: Callable[[Item], Result], concurrency: int) -> Iterator[Result]:
    """Run ``work`` on every item, each platform's items in a thread pool of its own of at
    most ``concurrency`` threads, so that no platform has more than that in progress and a
    platform that stalls holds up none of the others' items; yield the results in the items'
    order, each as soon as it and those before it are done."""
    if not items:
        return
    counts = Counter(platform_of(item) for item in items)
    with contextlib.ExitStack() as pools_in_use:
        pools = {name: pools_in_use.enter_context(ThreadPoolExecutor(
                     max_workers=max(1, min(count, concurrency)),
                     thread_name_prefix=f"metpost-{name}"))
                 for name, count in counts.items()}
        futures = [pools[platform_of(item)].submit(work, item) for item in items]
        for future in futures:
            yield future.result()
