"""The decision point: one rule list per action answers for one object and filters lists."""
from __future__ import annotations

from typing import Any

from blinker import Namespace
from sqlalchemy import and_, false, or_, true

from exchange.core.problems import Forbidden, NotFound
from exchange.policy.identity import Identity
from exchange.policy.registry import restriction_wheres_for, restrictions_for, rule_for
from exchange.policy.rules import Decision, allow, deny

#: Sent (sender: the action) each time the policy is asked, per object or for a list filter: what
#: an audit listens to (the tests check with it that every route that reads data asked).
asked = Namespace().signal("policy-asked")


def decide(identity: Identity, action: str, resource: Any = None) -> Decision:
    """Whether ``identity`` may perform ``action`` on ``resource``, and which rule said so."""
    asked.send(action, identity=identity)
    if identity.is_system:
        return allow("system", "the console operator may do anything")
    rule = rule_for(action)
    if rule is None:
        return deny("default-deny", f"no rule allows {action}")
    refusal = rule.refusal(identity)
    if refusal is not None:
        return refusal
    if rule.needs_resource and resource is None:
        return deny("no-resource", f"{action} is decided on an object, and none was given")
    for grant in rule.grants:
        if grant.covers(identity, resource):
            for check in restrictions_for(action):
                refusal = check(identity, resource)
                if refusal is not None and not refusal.allowed:
                    return refusal
            return allow(grant.rule, grant.reason)
    return deny(*rule.refused)


def require(identity: Identity, action: str, resource: Any = None) -> Decision:
    """Ask ``decide`` and raise 403, with its reason and rule, when the answer is no."""
    decision = decide(identity, action, resource)
    if not decision.allowed:
        raise forbidden(decision)
    return decision


def forbidden(decision: Decision) -> Forbidden:
    """The 403 of a refusal: its reason, its ``rule`` and, when a sharing policy decided, the
    ``policy`` (id, version, name) and what would change the answer (``remedy``)."""
    extra = {"policy": decision.policy} if decision.policy is not None else {}
    if decision.remedy:
        extra["remedy"] = decision.remedy
    return Forbidden(decision.reason, rule=decision.rule, **extra)


def require_own(identity: Identity, action: str, thing: Any, what: str, thing_id: Any) -> Decision:
    """Like ``require`` for one thing by id: absent (None) or another organisation's (refused by the
    ownership rule) is a 404 "No {what} {thing_id}." so that ids do not leak; any other refusal, 403."""
    decision = decide(identity, action, thing) if thing is not None else None
    if decision is None or (not decision and decision.rule == "ownership"):
        raise NotFound(f"No {what} {thing_id}.")
    if not decision:
        raise forbidden(decision)
    return decision


def query_filter(identity: Identity, action: str, model: Any):
    """The SQL predicate selecting the rows of ``model`` on which ``decide`` allows ``action``: the
    same grants in their query form, so a list never shows what a read would refuse."""
    asked.send(action, identity=identity)
    if identity.is_system:
        return true()
    rule = rule_for(action)
    if rule is None or rule.refusal(identity) is not None:
        return false()
    clauses = []
    for grant in rule.grants:
        if not grant.who(identity):
            continue
        if grant.test is None:
            clauses = [true()]
            break
        if grant.where is None:
            raise LookupError(f"the grant {grant.rule!r} of {action!r} has no query form")
        clauses.append(grant.where(identity, model))
    if not clauses:
        return false()
    granted = or_(*clauses) if len(clauses) > 1 else clauses[0]
    wheres = restriction_wheres_for(action)
    if any(where is None for where in wheres):
        raise LookupError(f"a restriction of {action!r} has no query form")
    return and_(granted, *[where(identity, model) for where in wheres]) if wheres else granted
