"""The rule registry: each domain registers the rules of its own actions in its ``policies.py``.

A domain's ``init_app`` imports its ``policies`` module, whose ``register`` calls run once per
process (importing again registers nothing twice). An action nobody registered has no rule, and
``decide`` denies it.
"""
from __future__ import annotations

from exchange.policy.rules import Rule

_rules: dict[str, Rule] = {}


def register(action: str, rule: Rule) -> None:
    """Make ``rule`` decide ``action``. An action has one rule: registering it twice is a mistake."""
    if action in _rules:
        raise ValueError(f"the action {action!r} already has a rule")
    _rules[action] = rule


def rule_for(action: str) -> Rule | None:
    return _rules.get(action)


def registered_actions() -> list[str]:
    return sorted(_rules)
