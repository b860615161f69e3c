"""Run one piece of work per item concurrently, at most N at once per platform, in order."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def fan_out(items: Sequence[Item], platform_of: Callable[[Item], str],
            work: Callable[[Item], Result], concurrency: int) -> Iterator[Result]:
    """Run ``work`` on every item in a thread pool, holding its platform's semaphore, so no
    platform has more than ``concurrency`` items in progress; yield the results in the items'
    order, each as soon as it and those before it are done."""
    if not items:
        return
    limits = {name: threading.BoundedSemaphore(concurrency)
              for name in {platform_of(item) for item in items}}

    def limited(item: Item) -> Result:
        with limits[platform_of(item)]:
            return work(item)

    workers = max(1, min(len(items), concurrency * len(limits)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="metpost") as pool:
        futures = [pool.submit(limited, item) for item in items]
        for future in futures:
            yield future.result()
