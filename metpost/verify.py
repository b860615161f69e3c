"""``metpost accounts verify``: ask each platform whom each account's credentials belong to.

Every account is asked at once (at most ``concurrency`` requests in flight per platform), with
the platform's own call (X ``GET /2/users/me``, Graph ``GET /{page-id}?fields=name,username``),
and nothing is posted. An account is ok when the platform answers and the answer matches the
handle in accounts.yaml (when both name one); otherwise the reason is said in the platform's
words: a variable not set, a token refused or expired, a page the token cannot reach, or the
credentials of another account.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from metpost.delivery.fanout import fan_out
from metpost.models import Account
from metpost.platforms.api import Destination, Identity, PublishError, Timeouts
from metpost.plugins import platform_classes
from metpost.secrets import REDACT, resolve_credentials


@dataclass(frozen=True)
class Verification:
    """What the platform said about one account's credentials."""

    account: Account
    ok: bool | None  # None: the platform cannot say whom credentials belong to
    platform_handle: str | None = None  # the handle (or page name) the platform gave
    problem: str | None = None


def verify_accounts(accounts: Sequence[Account], environ: Mapping[str, str],
                    timeouts: Timeouts, concurrency: int = 8) -> list[Verification]:
    """Verify every account, concurrently; the results in the accounts' order."""
    return list(fan_out(accounts, lambda account: account.platform,
                        lambda account: verify_account(account, environ, timeouts),
                        concurrency))


def verify_account(account: Account, environ: Mapping[str, str],
                   timeouts: Timeouts) -> Verification:
    """Ask the platform about one account's credentials."""
    platform = platform_classes()[account.platform]
    if not platform.capabilities.can_verify:
        return Verification(account, None, problem=f"{platform.title} cannot say whom "
                                                   "credentials belong to; not checked")
    credentials, missing = resolve_credentials(account, environ)
    if missing:
        return Verification(account, False, problem="not set in the environment: "
                                                    + ", ".join(missing))
    client = platform(Destination(account=account.name, handle=account.handle,
                                  settings=account.settings, credentials=credentials,
                                  api_url=account.api_url, timeouts=timeouts))
    try:
        identity = client.whoami()
    except PublishError as error:
        return Verification(account, False, problem=REDACT(error.reason))
    except Exception as error:  # a client's surprise is this account's problem, not the run's
        return Verification(account, False, problem=REDACT(
            f"unexpected error from the client: {type(error).__name__}: {error}"))
    finally:
        with contextlib.suppress(Exception):
            client.close()
    return _compare(account, identity)


def _compare(account: Account, identity: Identity) -> Verification:
    shown = identity.handle or identity.name
    if account.handle and identity.handle and _handle(account.handle) != _handle(
            identity.handle):
        return Verification(account, False, shown, problem=(
            f"the credentials belong to {identity.handle}, not {account.handle} as "
            "accounts.yaml says; fix the handle or the credentials"))
    return Verification(account, True, shown)


def _handle(handle: str) -> str:
    """A handle as two spellings of it agree: no ``@``, any case."""
    return handle.strip().lstrip("@").casefold()
