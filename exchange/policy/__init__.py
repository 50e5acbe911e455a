"""Who is acting, and the one place that decides what they may do.

``decide(identity, action, resource)`` is the platform's single policy decision point: services
ask it before acting and nothing else decides access. Each domain registers the rules of its own
actions (its ``policies.py``); an action nobody registered is denied. The console operator may do
anything. A rule that filters lists answers ``query_filter(identity, action, model)`` from the same
grants, so a list never shows what a read would refuse. Every answer names the rule that decided,
so a denial can be explained. Licensing adds grants to other domains' actions (``extend``); a rule set that may forbid what
a grant allows (the sharing policies) plugs in with ``restrict``.
"""
from exchange.policy.decision_point import asked, decide, forbidden, query_filter, require, require_own
from exchange.policy.identity import ANONYMOUS, SYSTEM, Identity
from exchange.policy.registry import extend, register, registered_actions, restrict
from exchange.policy.rules import Decision, Grant, Rule, owner_org

__all__ = ["ANONYMOUS", "SYSTEM", "Decision", "Grant", "Identity", "Rule", "asked", "decide", "extend", "forbidden", "owner_org", "query_filter",
           "register", "registered_actions", "require", "require_own", "restrict"]
