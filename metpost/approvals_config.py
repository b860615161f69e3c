"""``approvals:`` in accounts.yaml, validated like the rest of the file (file:line, field,
did-you-mean), into an ``ApprovalPolicy``::

    approvals:
      required: true            # or a scope, or a list of scopes: {tag: [...], template: [...]}
      approvers: 1              # distinct people (default 1)
      two_person: true          # the plan's author does not count
      expires_after: 2h         # a plan not applied by then is refused (default 24h)
      standing:                 # broadcasts that go out under someone's approval given ahead
        - {template: rumour-control, by: inspector-on-call}
      urgent: {allowed: true}   # or a scope: where send --urgent --reason may bypass approval
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from metpost.approvals import (
    DEFAULT_EXPIRY,
    EVERYWHERE,
    SCOPE_KEYS,
    ApprovalPolicy,
    Scope,
    StandingApproval,
)
from metpost.suggest import did_you_mean

if TYPE_CHECKING:
    from metpost.config import ConfigValidator
    from metpost.models import Account, Borough, Personality
    from metpost.yamlsource import FieldPath

APPROVAL_KEYS = ("required", "approvers", "two_person", "expires_after", "standing", "urgent")
INLINE_MESSAGE = "--message"  # how a scope names a broadcast given with --message
# The longest expires_after: a plan's expiry is its creation time plus this, which must stay
# a date (a year is far beyond any approval's use, and far inside what dates hold).
LONGEST_EXPIRY = timedelta(days=365)


class ApprovalsReader:
    """Reads ``approvals:``; problems go to the config's validator, with their lines."""

    def __init__(self, validator: ConfigValidator, accounts: Sequence[Account],
                 boroughs: Mapping[str, Borough],
                 personalities: Mapping[str, Personality]) -> None:
        self.validator = validator
        self.known = {
            "account": [account.name for account in accounts],
            "tag": sorted({tag for account in accounts for tag in account.tags}),
            "borough": list(boroughs),
            "personality": list(personalities),
        }

    def policy(self, value: object) -> ApprovalPolicy:
        """The policy, or the default (no approval needed) when there is no section."""
        check = self.validator
        section = check.mapping(("approvals",), value)
        if not section:
            return ApprovalPolicy()
        check.check_keys(("approvals",), section, APPROVAL_KEYS)
        return ApprovalPolicy(
            required=self.scopes(("approvals", "required"), section.get("required")),
            approvers=self.count(("approvals", "approvers"), section.get("approvers")),
            two_person=check.flag(("approvals", "two_person"), section.get("two_person")),
            expires_after=self.duration(("approvals", "expires_after"),
                                        section.get("expires_after")),
            standing=self.standing(("approvals", "standing"), section.get("standing")),
            urgent=self.urgent(("approvals", "urgent"), section.get("urgent")),
        )

    def scopes(self, path: FieldPath, value: object) -> tuple[Scope, ...]:
        """true (everywhere), false or absent (nowhere), a scope, or a list of scopes."""
        if value is None or value is False:
            return ()
        if value is True:
            return (EVERYWHERE,)
        if isinstance(value, dict):
            scope = self.scope(path, value)
            return (scope,) if scope is not None else ()
        if isinstance(value, list):
            found = [self.scope((*path, index), item) for index, item in enumerate(value)]
            return tuple(scope for scope in found if scope is not None)
        self.validator.problem(path, "must be true, false, a scope such as {tag: [central]}, "
                                     "or a list of scopes")
        return ()

    def scope(self, path: FieldPath, value: object, *,
              extra: tuple[str, ...] = ()) -> Scope | None:
        """One scope: each key a name or a list of names that must exist."""
        check = self.validator
        if not isinstance(value, dict):
            check.problem(path, "must be a scope such as {tag: [central], platform: x}")
            return None
        before = len(check.problems)
        check.check_keys(path, value, (*SCOPE_KEYS, *extra))
        chosen: dict[str, tuple[str, ...]] = {}
        for key, attribute in SCOPE_KEYS.items():
            given = value.get(key)
            items = given if isinstance(given, list) else [] if given is None else [given]
            names = [check.string((*path, key), name) for name in items]
            chosen[attribute] = tuple(self.known_name((*path, key), key, name)
                                      for name in names if name is not None)
        if not any(chosen.values()):
            if len(check.problems) == before:
                check.problem(path, "names no posts: give template, tag, platform, account, "
                                    "borough or personality")
            return None
        return Scope(**chosen)

    def known_name(self, path: FieldPath, key: str, name: str) -> str:
        """``name`` if it exists as a ``key`` (a problem with the closest name if not)."""
        if key == "template":
            from metpost.render import template_names

            known = [*template_names(self.validator.path.parent / "templates"), INLINE_MESSAGE]
        elif key == "platform":
            from metpost.plugins import platform_classes

            known = sorted(platform_classes())
        else:
            known = self.known[key]
        if name not in known:
            listed = f" (known: {', '.join(known)})" if key in ("platform", "template") else ""
            self.validator.problem(path, f"unknown {key} '{name}'{did_you_mean(name, known)}"
                                         f"{listed}")
        return name

    def count(self, path: FieldPath, value: object) -> int:
        """A number of approvers: 1 or more."""
        if value is None:
            return 1
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.validator.problem(path, "must be a whole number of people, 1 or more")
            return 1
        return value

    def duration(self, path: FieldPath, value: object) -> timedelta:
        """``2h``, ``90m``, ``1d``, ``1h30m``: at most ``LONGEST_EXPIRY``."""
        from metpost.schedule import DurationTooLong, parse_duration

        text = self.validator.string(path, value)
        if text is None:
            return DEFAULT_EXPIRY
        try:
            return parse_duration(text, LONGEST_EXPIRY)
        except DurationTooLong as error:
            self.validator.problem(path, f"{error}: a plan is approved to go out soon, not to "
                                         "wait for a year")
        except ValueError as error:
            self.validator.problem(path, str(error))
        return DEFAULT_EXPIRY

    def standing(self, path: FieldPath, value: object) -> tuple[StandingApproval, ...]:
        """Each ``{<scope>, by: NAME}``: NAME approves, ahead of time, what the scope covers."""
        found = []
        for index, item in enumerate(self.validator.sequence(path, value)):
            where = (*path, index)
            scope = self.scope(where, item, extra=("by",))
            if not isinstance(item, dict):
                continue
            by = self.validator.string((*where, "by"), item.get("by"))
            if "by" not in item:
                self.validator.problem(where, "missing required key 'by' (who approves these "
                                              "in advance, e.g. by: inspector-on-call)")
            if scope is not None and by is not None:
                found.append(StandingApproval(scope=scope, by=" ".join(by.split())))
        return tuple(found)

    def urgent(self, path: FieldPath, value: object) -> tuple[Scope, ...]:
        """``{allowed: true | scope | [scopes]}``: where --urgent may be used."""
        section = self.validator.mapping(path, value)
        if not section:
            return ()
        self.validator.check_keys(path, section, ("allowed",), required=("allowed",))
        return self.scopes((*path, "allowed"), section.get("allowed"))


def approval_policy(validator: ConfigValidator, value: Any, accounts: Sequence[Account],
                    boroughs: Mapping[str, Borough],
                    personalities: Mapping[str, Personality]) -> ApprovalPolicy:
    """``approvals:`` as a policy; every problem is recorded on ``validator``."""
    return ApprovalsReader(validator, accounts, boroughs, personalities).policy(value)
