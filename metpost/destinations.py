"""Where a post goes, besides its platform and handle: recorded with the post (in a plan, in
the ledger) and compared with the config as it is now, so that an edit to accounts.yaml never
sends a recorded text somewhere else.

A destination is the account's ``api_url`` and the settings its platform declares in
``Platform.destination_fields`` (a Facebook page, a webhook's url, a feed's file); one that may
hold a secret is kept as its SHA-256 digest, and one given as a credential by the name of the
variable that holds it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from metpost.models import Account

DIGEST_PREFIX = "sha256:"


def _destination_fields(platform: str) -> Mapping[str, bool] | None:
    """The platform's ``destination_fields`` (None for one not installed here, or a plugin that
    does not say: then every setting counts, each as a secret)."""
    from metpost.plugins import platform_classes

    platforms = platform_classes()
    return platforms[platform].destination_fields if platform in platforms else None


def _secret_setting(platform: str, key: str) -> bool:
    known = _destination_fields(platform)
    return True if known is None else known.get(key, True)


def _destination_keys(account: Account) -> list[str]:
    known = _destination_fields(account.platform)
    if known is not None:
        return list(known)
    # handle and api_url, when a platform declares them too, are the account's own, above
    return sorted(key for key in account.settings if key not in ("handle", "api_url"))


def destination_record(account: Account) -> dict[str, str | None]:
    """What, besides its platform and handle, says where a post to ``account`` goes, as it is
    recorded: ``api_url`` and the platform's destination settings, each value that may hold a
    secret as ``sha256:`` and its digest. One given as a credential (a webhook's url, when the
    address is itself a secret) is recorded by the variable that holds it: its value is a
    credential, set where the post is sent, not where it is planned."""
    record: dict[str, str | None] = {"api_url": account.api_url}
    for key in _destination_keys(account):
        value = account.settings.get(key)
        if value is not None and _secret_setting(account.platform, key):
            value = DIGEST_PREFIX + hashlib.sha256(value.encode("utf-8")).hexdigest()
        elif value is None and key in account.credentials:
            value = f"the credential ${{{account.credentials[key]}}}"
        record[key] = value
    return record


def destination_changes(platform: str, handle: str | None,
                        destination: Mapping[str, str | None] | None,
                        account: Account) -> list[str]:
    """What says where a post recorded for ``platform``, ``handle`` and ``destination`` goes
    that ``account`` (as the config has it now) no longer has as it was: each as "what was X,
    now Y", a secret's values never shown.

    A post recorded before metpost kept its ``destination`` (None) is compared on what it does
    record, the platform and the handle. A key the platform declares that the destination
    lacks was not yet recorded by the metpost that wrote it (each is, None or not, since): it
    is not compared."""
    if account.platform != platform:
        return [f"platform was {platform}, now {account.platform}"]
    changes = []
    if account.handle != handle:
        changes.append(f"handle was {shown(handle)}, now {shown(account.handle)}")
    if destination is None:
        return changes
    now = destination_record(account)
    declared = _destination_fields(account.platform) or {}
    for key in [*destination, *(key for key in now
                                 if key not in destination and key not in declared)]:
        before, after = destination.get(key), now.get(key)
        if before == after:
            continue
        if key != "api_url" and _secret_setting(account.platform, key):
            changes.append(f"{shown_key(key)} changed (not shown: it may hold a secret)")
        else:
            changes.append(f"{shown_key(key)} was {shown(before)}, now {shown(after)}")
    return changes


def shown(value: object) -> str:
    """A value from a file or the config, quoted, on one line and not too long to read."""
    if value is None:
        return "none"
    text = str(value)
    text = text if len(text) <= 80 else text[:77] + "..."
    return repr(text) if not text.isprintable() or "'" in text else f"'{text}'"


def shown_key(key: str) -> str:
    """A field's name as a message shows it: plain when it is a plain name, else quoted."""
    return key if key.isidentifier() and len(key) <= 40 else shown(key)


def local_problems(account: Account) -> list[str]:
    """What stops ``account`` posting from this machine now, found without the network (its
    platform's ``local_problems``: a feed whose folder is missing). None for a platform not
    installed here: that is reported where the platform is looked up."""
    from metpost.plugins import platform_classes

    platforms = platform_classes()
    if account.platform not in platforms:
        return []
    return platforms[account.platform].local_problems(account.settings)
