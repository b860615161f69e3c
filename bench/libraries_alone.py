"""The fan-out's floor: the same posts made with tweepy and facebook-sdk alone, without metpost.

Run by ``bench/fanout.py`` as a process of its own, with the fake servers' URLs as arguments
and the accounts' credentials in the environment (as ``fanout.write_config`` names them). It
imports the two libraries, builds one client per account, points each library's session at the
fake the way metpost does (a transport adapter mounted on the library's origin), and makes every
post at once, one thread per account. There is no configuration, template, check, ledger or
output: what it takes is what any tool that posts through these libraries must take.

It treats the cyclic garbage collector as ``metpost.cli.main`` does, so that the comparison is
of the work done, not of interpreter settings.
"""

from __future__ import annotations

import gc
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

gc.set_threshold(100_000, *gc.get_threshold()[1:])

import facebook  # noqa: E402
import tweepy  # noqa: E402
from requests.adapters import HTTPAdapter  # noqa: E402

X_ORIGIN = "https://api.twitter.com"
GRAPH_ORIGIN = "https://graph.facebook.com"


class ToFake(HTTPAdapter):
    """Sends what a library addresses to ``origin`` to ``fake`` instead; never retries."""

    def __init__(self, origin: str, fake: str) -> None:
        super().__init__(max_retries=0)
        self.origin, self.fake = origin, fake

    def send(self, request: Any, **options: Any) -> Any:
        request.url = self.fake + request.url[len(self.origin):]
        return super().send(request, **options)


def post_to_x(fake: str, n: int) -> None:
    keys = {key: os.environ[f"BENCH_X_{n:02d}_{key.upper()}"] for key in
            ("consumer_key", "consumer_secret", "access_token", "access_token_secret")}
    client = tweepy.Client(**keys)
    client.session.mount(X_ORIGIN, ToFake(X_ORIGIN, fake))
    client.create_tweet(text=f"Libraries alone {os.getpid()}: Borough {n:02d} update",
                        user_auth=True)


def post_to_facebook(fake: str, n: int) -> None:
    graph = facebook.GraphAPI(access_token=os.environ[f"BENCH_FB_{n:02d}"], version="3.1")
    graph.session.mount(GRAPH_ORIGIN, ToFake(GRAPH_ORIGIN, fake))
    graph.put_object(str(5000 + n), "feed",
                     message=f"Libraries alone {os.getpid()}: Borough {n:02d} update")


def main() -> None:
    x_fake, graph_fake, accounts = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with ThreadPoolExecutor(max_workers=2 * accounts) as pool:
        futures = [pool.submit(post_to_x, x_fake, n) for n in range(accounts)]
        futures += [pool.submit(post_to_facebook, graph_fake, n) for n in range(accounts)]
        for future in futures:
            future.result()
    gc.freeze()


if __name__ == "__main__":
    main()
