"""Who must approve a broadcast before it goes out, and whether it has been: pure policy.

``approvals:`` in accounts.yaml says where approval is needed (``required``: everywhere, or
the posts a scope reaches), by how many people (``approvers``), whether the author may be one
of them (``two_person``), how long a plan stays good (``expires_after``), which kinds of
broadcast go out under someone's standing approval (``standing``), and where an emergency may
bypass it all (``urgent``). A scope is a mapping of ``template``, ``tag``, ``platform``,
``account``, ``borough`` and ``personality``, each a name or a list: a post is in the scope
when it matches every key given (and any name of a key's list).

Nothing here reads the config, a plan or the ledger: callers pass the accounts, the template's
name, the author and the approvers' names, and get back whether it is approved, and why not
in words a person can act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from metpost.characters import INVISIBLE

if TYPE_CHECKING:
    from metpost.models import Account

DEFAULT_EXPIRY = timedelta(hours=24)
# A scope's keys in accounts.yaml, and the Scope fields they fill.
SCOPE_KEYS = {"template": "templates", "tag": "tags", "platform": "platforms",
              "account": "accounts", "borough": "boroughs", "personality": "personalities"}


@dataclass(frozen=True)
class Scope:
    """Some posts: those whose account (and template) match every key given. An empty scope
    is every post."""

    templates: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    boroughs: tuple[str, ...] = ()
    personalities: tuple[str, ...] = ()

    def covers(self, account: Account, template: str) -> bool:
        """A post on ``account`` made from ``template`` is in this scope."""
        tests = ((self.templates, template in self.templates),
                 (self.tags, bool(set(self.tags) & set(account.tags))),
                 (self.platforms, account.platform in self.platforms),
                 (self.accounts, account.name in self.accounts),
                 (self.boroughs, account.borough in self.boroughs),
                 (self.personalities, account.personality in self.personalities))
        return all(matched for names, matched in tests if names)

    def describe(self) -> str:
        """The scope in words, as accounts.yaml writes it: ``template rumour-control``."""
        said = [f"{key} {', '.join(getattr(self, field))}" for key, field in SCOPE_KEYS.items()
                if getattr(self, field)]
        return "; ".join(said) or "every broadcast"


EVERYWHERE = Scope()


@dataclass(frozen=True)
class StandingApproval:
    """A person's approval given in advance for every broadcast within ``scope``."""

    scope: Scope
    by: str


@dataclass(frozen=True)
class ApprovalPolicy:
    """``approvals:`` of accounts.yaml. The default needs no approval at all."""

    required: tuple[Scope, ...] = ()  # a post in any of these needs approval
    two_person: bool = False  # the plan's author does not count as an approver
    approvers: int = 1  # distinct people who must approve
    expires_after: timedelta = DEFAULT_EXPIRY
    standing: tuple[StandingApproval, ...] = ()
    urgent: tuple[Scope, ...] = ()  # where --urgent may bypass approval

    @property
    def configured(self) -> bool:
        """Approval is needed somewhere."""
        return bool(self.required)


@dataclass(frozen=True)
class Verdict:
    """Whether a broadcast may go out: ``needed`` (approval is required for it), ``approved``
    (it may go out), by whom, and, when it may not, why."""

    needed: bool
    approved: bool
    approvers: tuple[str, ...] = ()  # those who count, standing ones included
    standing: tuple[str, ...] = ()  # of those, who approved in advance
    problems: tuple[str, ...] = ()


def same_person(first: str, second: str) -> bool:
    """Two names of one person: they look the same (``name_skeleton``), whatever their case,
    spacing, accents, width or alphabet."""
    return name_skeleton(first) == name_skeleton(second)


# Cyrillic and Greek letters drawn as Latin ones are (after case folding: Cyrillic a, ve, ie,
# io, ka, em, en, o, er, es, te, u, ha, i, yi, je, dze, komi de, qa, we, shha, palochka; Greek
# alpha, beta, epsilon, eta, iota, kappa, nu, omicron, rho, tau, upsilon, chi, omega), each
# with its Latin look-alike: a name written with them would pass for another person's.
LOOKALIKES = str.maketrans(
    "\u0430\u0432\u0435\u0451\u043a\u043c"
    "\u043d\u043e\u0440\u0441\u0442\u0443"
    "\u0445\u0456\u0457\u0458\u0455\u0501"
    "\u051b\u051d\u04bb\u04cf\u03b1\u03b2"
    "\u03b5\u03b7\u03b9\u03ba\u03bd\u03bf"
    "\u03c1\u03c4\u03c5\u03c7\u03c9",
    "abeekm"
    "hopcty"
    "xiijsd"
    "qwhlab"
    "enikvo"
    "ptuxw"
)


def name_skeleton(name: str) -> str:
    """What a name looks like, for telling people apart: compatibility forms (full-width, ligatures)
    as their plain letters, case folded, accents dropped, look-alike letters of other alphabets
    as the Latin ones, spaces collapsed."""
    import unicodedata

    plain = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name).casefold())
    letters = "".join(char for char in plain if not unicodedata.combining(char)
                      and not unicodedata.category(char).startswith("C"))
    letters = INVISIBLE.sub("", letters)
    return " ".join(letters.translate(LOOKALIKES).split())


def needs_approval(policy: ApprovalPolicy, accounts: Sequence[Account], template: str) -> bool:
    """Some post of the broadcast is where accounts.yaml requires approval."""
    return any(scope.covers(account, template) for scope in policy.required
               for account in accounts)


def standing_approvers(policy: ApprovalPolicy, accounts: Sequence[Account],
                       template: str) -> list[str]:
    """Who approved the broadcast in advance: each standing approval covering every post."""
    found: list[str] = []
    for standing in policy.standing:
        covered = accounts and all(standing.scope.covers(account, template)
                                   for account in accounts)
        if covered and not any(same_person(standing.by, name) for name in found):
            found.append(standing.by)
    return found


def urgent_allowed(policy: ApprovalPolicy, accounts: Sequence[Account], template: str) -> bool:
    """``--urgent`` may bypass approval here: every post is within ``urgent.allowed``."""
    return bool(accounts) and all(any(scope.covers(account, template) for scope in policy.urgent)
                                  for account in accounts)


def judge(policy: ApprovalPolicy, *, author: str, approvers: Sequence[str],
          accounts: Sequence[Account], template: str, plan: str | None = None,
          config: str = "accounts.yaml") -> Verdict:
    """Whether a broadcast by ``author`` with these ``approvers`` (recorded approvals) may go
    out. ``plan`` names the plan being applied (None for a send without one); ``config``
    names the file whose rules are quoted."""
    standing = standing_approvers(policy, accounts, template)
    if not needs_approval(policy, accounts, template):
        return Verdict(needed=False, approved=True, approvers=tuple(_distinct(approvers)))
    given = _distinct([*approvers, *standing])
    counted = [name for name in given
               if not (policy.two_person and same_person(name, author))]
    standing_counted = tuple(name for name in standing if name in counted)
    if len(counted) >= policy.approvers:
        return Verdict(needed=True, approved=True, approvers=tuple(counted),
                       standing=standing_counted)
    return Verdict(needed=True, approved=False, approvers=tuple(counted),
                   standing=standing_counted,
                   problems=(_why_not(policy, author, given, counted, plan, config),))


def _distinct(names: Sequence[str]) -> list[str]:
    found: list[str] = []
    for name in names:
        if not any(same_person(name, seen) for seen in found):
            found.append(name)
    return found


def _why_not(policy: ApprovalPolicy, author: str, given: Sequence[str], counted: Sequence[str],
             plan: str | None, config: str) -> str:
    """Why the approvals fall short, and what to do, in one line."""
    if plan is None:
        return (f"this broadcast needs approval ({config}: approvals.required): plan it with "
                "--plan FILE, have it approved with metpost approve FILE, then post it with "
                "metpost apply FILE")
    someone = "someone other than its author" if policy.two_person else "someone"
    ask = f"have {someone} run metpost approve on it, then apply it again"
    if given and not counted:
        return (f"plan {plan} is approved only by its author, {author}, and {config} "
                f"requires a second person (approvals.two_person): {ask}")
    if not given:
        return f"plan {plan} needs an approval before it is applied ({config}: " \
               f"approvals.required): {ask}"
    return (f"plan {plan} has {len(counted)} of the {policy.approvers} approvals it needs "
            f"({config}: approvals.approvers; by {', '.join(counted)}): {ask}")
