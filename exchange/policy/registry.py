"""The rule registry: each domain registers the rules of its own actions in its ``policies.py``.

The domains' rule modules are imported on the first lookup (``DOMAIN_POLICIES``): registering
happens when a module is imported, once per process, whatever app or command is running.
"""
from __future__ import annotations

import importlib
import threading

from exchange.policy.rules import Rule

#: The modules that register rules, imported on first use.
DOMAIN_POLICIES = ("auth.policies", "exchange.catalog.policies", "exchange.ingest.policies")

_rules: dict[str, Rule] = {}
_loaded = False
_loading = threading.RLock()  # a rule module that asks the policy while loading does not deadlock


def register(action: str, rule: Rule) -> None:
    """Make ``rule`` decide ``action``. An action has one rule: registering it twice is a mistake."""
    if action in _rules:
        raise ValueError(f"the action {action!r} already has a rule")
    _rules[action] = rule


def _load_domains() -> None:
    global _loaded
    if _loaded:
        return
    with _loading:
        for module in DOMAIN_POLICIES:
            importlib.import_module(module)
        _loaded = True


def rule_for(action: str) -> Rule | None:
    _load_domains()
    return _rules.get(action)


def registered_actions() -> list[str]:
    _load_domains()
    return sorted(_rules)
