"""The platform clients of one run: one per account, built on first use, closed when done."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Mapping

from metpost.errors import MetpostError
from metpost.models import Account
from metpost.platforms.api import Destination, Platform, Timeouts
from metpost.secrets import resolve_credentials


class Clients:
    """Builds each account's client from ``platforms`` (platform name -> client class) with its
    credentials read from ``environ``; safe to use from the run's worker threads."""

    def __init__(self, platforms: Mapping[str, type[Platform]], environ: Mapping[str, str],
                 timeouts: Timeouts) -> None:
        self.platforms = platforms
        self.environ = environ
        self.timeouts = timeouts
        self._clients: dict[str, Platform] = {}
        self._lock = threading.Lock()

    def of(self, account: Account) -> Platform:
        """The one client of ``account`` for this run; a MetpostError naming the variables
        when its credentials are not all set (the checks before a run make sure they are, but
        a run may come to a post it did not expect to touch: one sent while it waited)."""
        with self._lock:
            client = self._clients.get(account.name)
            if client is None:
                credentials, unset = resolve_credentials(account, self.environ)
                if unset:
                    raise MetpostError(f"credentials not set in the environment: "
                                       f"{', '.join(unset)}")
                destination = Destination(account=account.name, handle=account.handle,
                                          settings=account.settings, credentials=credentials,
                                          api_url=account.api_url, timeouts=self.timeouts)
                client = self.platforms[account.platform](destination)
                self._clients[account.name] = client
            return client

    def release(self, account: Account) -> None:
        """Close ``account``'s client, if it has one; a later ``of`` builds a new one."""
        with self._lock:
            client = self._clients.pop(account.name, None)
        if client is not None:
            with contextlib.suppress(Exception):  # best effort: the post is settled
                client.close()

    def close_all(self) -> None:
        """Close every client still open."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            with contextlib.suppress(Exception):  # best effort: the run is over either way
                client.close()
