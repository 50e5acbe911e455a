"""The rule registry: each domain registers the rules of its own actions in its ``policies.py``.

A domain's ``init_app`` imports its ``policies`` module, whose ``register`` calls run once per
process (importing again registers nothing twice). An action nobody registered has no rule, and
``decide`` denies it.
"""
from __future__ import annotations

from dataclasses import replace

from typing import Any, Callable

from exchange.policy.identity import Identity
from exchange.policy.rules import Because, Decision, Grant, Rule

_rules: dict[str, Rule] = {}
#: Per action, checks asked after a grant allowed: each may refuse (a Decision) or pass (None).
Restriction = Callable[[Identity, Any], "Decision | None"]
#: A restriction's query form: (identity, model) -> the SQL predicate of the rows it lets through.
RestrictionWhere = Callable[[Identity, Any], Any]
_restrictions: dict[str, list[Restriction]] = {}
_restriction_wheres: dict[str, list[RestrictionWhere]] = {}


def register(action: str, rule: Rule) -> None:
    """Make ``rule`` decide ``action``. An action has one rule: registering it twice is a mistake."""
    if action in _rules:
        raise ValueError(f"the action {action!r} already has a rule")
    _rules[action] = rule


def extend(action: str, grant: Grant, refused: Because | None = None) -> None:
    """Add a way to be allowed to another domain's action (licensing adds "holds a licence" to
    downloads, without the catalogue importing it); ``refused`` then says why nothing allowed.
    The rule's conditions on the identity alone (roles, scope) still apply to every grant."""
    rule = _rules.get(action)
    if rule is None:
        raise LookupError(f"the action {action!r} has no rule to extend")
    if grant not in rule.grants:
        _rules[action] = replace(rule, grants=rule.grants + (grant,), refused=refused or rule.refused)


def restrict(action: str, check: Restriction, where: RestrictionWhere | None = None) -> None:
    """Let another rule set refuse what a grant allowed: the hook the sharing policies plug into
    (a policy may forbid a download a licence would allow). ``check(identity, resource)`` answers a
    refusing ``Decision`` or None; the first refusal wins. An action that lists (``query_filter``)
    needs the check's query form too, ``where``: the rows the check lets through, so a list never
    shows what a read would refuse. Adding the same check twice adds it once."""
    checks = _restrictions.setdefault(action, [])
    if check not in checks:
        checks.append(check)
        _restriction_wheres.setdefault(action, []).append(where)


def restrictions_for(action: str) -> list[Restriction]:
    return _restrictions.get(action, [])


def restriction_wheres_for(action: str) -> list[RestrictionWhere | None]:
    """The query forms of the action's restrictions (None where a check has none)."""
    return _restriction_wheres.get(action, [])


def rule_for(action: str) -> Rule | None:
    return _rules.get(action)


def registered_actions() -> list[str]:
    return sorted(_rules)
